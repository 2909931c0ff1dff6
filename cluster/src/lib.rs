//! Journal replication to NATS JetStream, the hot standby follower, the leader lease and fencing.
//!
//! Placeholder: this crate is filled in by the cluster issue.
#![deny(missing_docs)]
