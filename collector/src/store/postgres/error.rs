//! The driver's errors as the ports' [`StoreError`], with their causes (tokio-postgres' own
//! `Display` is often just "db error"). Their messages hold no part of the connection settings.

use crate::ports::StoreError;

/// A driver error with its causes (tokio-postgres' own `Display` is often just "db error"). Its
/// messages hold no part of the connection settings.
pub(super) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        return StoreError(format!("PostgreSQL: {}", db.message()));
    }
    StoreError(chain(&e))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

pub(super) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError(format!("PostgreSQL connection: {}", chain(&e)))
}
