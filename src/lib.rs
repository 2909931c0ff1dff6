//! The daemon's state, as a library: the gateway's FIX ⇄ engine mapping ([`fix_app`]) with
//! its order table, the messages its threads exchange, the access-trail hooks the mapping
//! calls, and [`state`]: the replica and snapshot container that the daemon's snapshot agent
//! and the replay tool (`arbiter-replay snapshot`) share, so a snapshot written from a
//! journal alone restarts the daemon like one it wrote itself.
//!
//! The `arbiter` binary (src/main.rs) uses these modules at its crate root.
#![deny(missing_docs)]

pub mod access_trail;
pub mod fix_app;
pub mod messages;
pub mod order_table;
pub mod session_ledger;
pub mod session_store;
pub mod state;
