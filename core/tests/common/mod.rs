//! `normalize` and `hash_field` with the context the table and property tests share.

use pixel_core::matching::{self, std_lower, Context, DropReason, Field};

/// Dates of birth are judged against this year (the next one is the latest accepted): the year
/// the published vectors were written in.
pub const YEAR: u32 = 2026;

/// The collector's context: `str::to_lowercase`, which is JavaScript's `toLowerCase`.
pub const CX: Context<'static> = Context {
    this_year: YEAR,
    lower: &std_lower,
};

pub fn normalize(f: Field, s: &str) -> Result<String, DropReason> {
    matching::normalize(f, s, &CX)
}

#[allow(dead_code)] // not every test file hashes
pub fn hash_field(f: Field, s: &str) -> Result<String, DropReason> {
    matching::hash_field(f, s, &CX)
}
