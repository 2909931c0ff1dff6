//! Who may get in: argon2id password hashes ([`credential`]) and source address ranges
//! ([`Cidr`]).
//!
//! A crate of its own because two sides need exactly the same rules: `arbiter config
//! check` refuses a clear-text password or a bad range before start-up, and the FIX gateway
//! applies them at every logon. Neither side depends on the other.
#![deny(missing_docs)]

mod cidr;
pub mod credential;

pub use cidr::Cidr;
