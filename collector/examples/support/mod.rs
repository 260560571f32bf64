//! What the benchmark examples share, one module a noun. Cargo builds each `examples/*.rs` as a
//! crate of its own, so each takes this folder whole with `#[path = "support/mod.rs"] mod
//! support;`; what one of them leaves unused is dead code there, allowed here once.
//!
//! - `flags`: the command line as `--flag VALUE` pairs, switches and what follows `--`;
//! - `load`: the one-thread HTTP/1.1 client, its request templates and the figures of a run;
//! - `replica`: `collector` processes and a private PostgreSQL server (`pgbench`, `pgbuilds`);
//! - `graph_stub`: a stand-in Graph API for the relay, and `relay`: a timed run of the relay
//!   (`loadgen`, `holdbench`).
#![allow(dead_code)]

pub mod flags;
pub mod graph_stub;
pub mod load;
pub mod relay;
pub mod replica;
