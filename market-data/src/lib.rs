//! Market data from engine events: L2/L3 books, FIX market data mapping, the binary UDP feed with retransmission and snapshots.
//!
//! Placeholder: this crate is filled in by the market-data issue.
#![deny(missing_docs)]
