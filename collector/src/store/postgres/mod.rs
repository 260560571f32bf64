//! The shared store: one PostgreSQL database that several collector replicas write and relay
//! from at once.
//!
//! - **Driver**: `tokio-postgres` connections in a `deadpool-postgres` pool, on a small runtime of
//!   the store's own (one worker thread runs the connections' I/O). The ports are
//!   synchronous: each call is driven to completion on the calling thread (the ingest writer, a
//!   `spawn_blocking` thread) by [`PgStore::run`] (`futures_executor::block_on`), inside the store
//!   runtime's context.
//! - **Never a hang**: connecting times out after [`CONNECT_TIMEOUT`], waiting for a pooled
//!   connection after [`POOL_TIMEOUT`], a statement after [`STATEMENT_TIMEOUT_MS`] (server side),
//!   a whole call after [`CALL_TIMEOUT`] (client side, for a server that stopped answering). So a
//!   group commit against an unreachable server fails in seconds: its beacons get `503`, and
//!   `check_writable` lets `/healthz` come back when the server does.
//! - **Group commit**: one transaction per `insert_batch`, whatever the batch size
//!   (arrays through `UNNEST`), answered after `COMMIT`: one statement (data-modifying CTEs, one
//!   round trip) when every key in the batch is distinct, a transaction of a few when a key
//!   repeats within the batch.
//! - **Deduplication shared by the replicas**: the `dedup_keys` table holds each
//!   `(pixel_id, event_name, event_id)` with the receipt time it was last stored at; an
//!   `INSERT … ON CONFLICT … DO UPDATE … WHERE` the old time is outside the window either claims
//!   the key (a row comes back) or finds a duplicate (none). A second replica inserting the same
//!   key waits on the row lock until the first commits, then sees its time: stored once.
//! - **The relay's claim**: `SELECT … FOR UPDATE SKIP LOCKED` picks pending events no other
//!   replica holds, and the same statement stamps them with this process's `lease_owner` and a
//!   `lease_until_ms`; marking releases them, and a replica killed mid-request frees its batch
//!   when the lease runs out.

mod connection;
mod diagnostics;
mod error;
mod group_commit;
mod log;
mod people;
mod people_source;
mod queue;
mod rows;
mod schema;
mod source;
#[cfg(test)]
mod tests;

pub use connection::{
    owner_name, PgOptions, PgStore, CALL_TIMEOUT, CONNECT_TIMEOUT, POOL_TIMEOUT,
    STATEMENT_TIMEOUT_MS,
};
