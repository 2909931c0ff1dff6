//! FIX 4.4 / FIXT.1.1 codec, dictionaries, session layer, acceptor and FIX <-> engine mapping.
//!
//! Placeholder: being built by the FIX gateway issue.
#![deny(missing_docs)]
