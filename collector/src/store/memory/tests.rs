//! The twin against the backend-neutral contract (`store/contract.rs`), the reports of seeded
//! traffic against SQLite's, its leases as replicas, and its faults.

use super::*;
use crate::ports::{EventLog, InsertOutcome, RelayQueue, StoreError};
use crate::store::contract::{self, event, T};

fn on_fresh(
    _: &str,
    test: fn(&dyn crate::store::Store) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    test(&MemoryStore::new())
}

contract::contract_tests!(on_fresh);

/// Seeded traffic (the `seed` command's, relayed and not) gives every report and audience the
/// same answer on the twin as on a SQLite file.
#[test]
fn every_report_equals_sqlite_on_seeded_traffic() -> Result<(), StoreError> {
    contract::same_reports_as_sqlite(&MemoryStore::new(), 3_000)
}

/// Two handles on one twin claim as two replicas on one PostgreSQL database: an event is handed
/// to one until it is marked, released or its lease ends.
#[test]
fn replicas_claim_each_event_once_until_the_lease_ends() -> Result<(), StoreError> {
    let a = MemoryStore::with_lease(1_000);
    let b = a.replica();
    a.insert_batch(&[event("x", T), event("y", T)])?;
    assert_eq!(a.claim_pending("1", 0, 1, T)?.len(), 1);
    let got: Vec<_> = b
        .claim_pending("1", 0, 10, T)?
        .into_iter()
        .map(|e| e.event.event_id)
        .collect();
    assert_eq!(got, ["y"], "b gets only what a does not hold");
    assert!(
        b.claim_pending("1", 0, 10, T + 500)?.len() == 1,
        "b may claim its own again"
    );
    assert!(
        b.claim_pending("1", 0, 10, T + 1_001)?.len() == 2,
        "a's lease ended"
    );
    a.release(&[1])?;
    b.mark_sent(&[1, 2], T)?;
    assert!(a.claim_pending("1", 0, 10, T + 2_000)?.is_empty());
    Ok(())
}

#[test]
fn it_fails_on_demand_and_recovers() -> Result<(), StoreError> {
    let s = MemoryStore::new();
    s.faults().fail(true);
    assert!(s.insert_batch(&[event("a", T)]).is_err());
    assert!(s.check_writable().is_err());
    s.faults().fail(false);
    s.check_writable()?;
    assert_eq!(s.insert_batch(&[event("a", T)])?, [InsertOutcome::Stored]);
    Ok(())
}
