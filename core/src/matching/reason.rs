//! Why a value was dropped instead of hashed: one small `Copy` enum with `&'static str` messages
//! (no formatting on the wasm path), shared by every field's rule.

/// Why a value was dropped instead of hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Empty or white space only.
    Empty,
    /// Nothing usable left after normalisation (a name of punctuation only, a zip of `-1234`).
    Invalid,
    /// `em` is not written as `local@domain` the way SPEC §6 says.
    NotAnEmail,
    /// `ph` has no digits besides leading zeros.
    NoDigits,
    /// `db` is in none of the accepted layouts.
    NotADate,
    /// `db` names a day that does not exist (`1990-02-30`, month 13).
    ImpossibleDate,
    /// `db` year before [`super::MIN_YEAR`] or after the next year.
    YearOutOfRange,
    /// `ge` is none of `f`, `m` and the words Meta maps to them.
    UnknownGender,
    /// `st` is no region name and has fewer than two letters.
    NotARegion,
    /// `country` is neither an ISO 3166-1 alpha-2 code nor a known English country name.
    UnknownCountry,
}

impl DropReason {
    pub fn message(self) -> &'static str {
        match self {
            DropReason::Empty => "empty value",
            DropReason::Invalid => "invalid value",
            DropReason::NotAnEmail => "not an email",
            DropReason::NoDigits => "no digits",
            DropReason::NotADate => "not a date",
            DropReason::ImpossibleDate => "impossible date",
            DropReason::YearOutOfRange => "year not 1800 to next year",
            DropReason::UnknownGender => "unknown gender",
            DropReason::NotARegion => "unknown region",
            DropReason::UnknownCountry => "unknown country",
        }
    }
}
