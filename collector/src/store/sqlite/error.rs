//! SQLite's errors as the ports' [`StoreError`]: always an internal fault, never the client's.

use crate::ports::StoreError;

pub(super) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}
