//! Journal replication to NATS JetStream, the hot standby follower, the leader lease and
//! its fencing flag.
//!
//! Nothing here touches the sequencer's hot path: the [`Replicator`] follows the local
//! journal from its own thread (a small current-thread tokio runtime inside) with a
//! [`arbiter_journal::FrameTail`], packs the exact frame bytes (records and seals) into
//! [`batch`]es and publishes them to one JetStream stream per shard; it publishes a
//! [`ReplicatedCursor`] ("replicated up to sequence N") from JetStream acknowledgements
//! only. The [`follower`] consumes that stream, re-verifies every frame (CRC, sequence,
//! hash chain), appends the same bytes to its own journal
//! ([`arbiter_journal::Writer::append_frame`]) and hands each user record to a callback
//! only after a seal has verified it. The [`Lease`] is a compare-and-set entry in a
//! key-value bucket whose TTL is the bucket's `max_age`; standbys register beside it and the
//! node that takes over records the failover ([`Registry`]). Every connection is made from one
//! [`NatsConnection`] (URLs and TLS). Venue-wide controls ([`venue`]) fan out to every
//! shard's leader over core NATS.
//!
//! See `docs/cluster.md` for the wire format, the de-duplication and expected-sequence
//! rules, and what each durability setting survives with nats-server 2.9 and later.
#![deny(missing_docs, missing_debug_implementations)]

pub mod batch;
mod connection;
mod error;
pub mod follower;
mod lease;
mod registry;
mod replicator;
pub mod server;
mod stream;
pub mod venue;

pub use connection::{NatsConnection, NatsTls};
pub use error::ClusterError;
pub use follower::{
    follow, follow_reconnecting, FollowerConfig, FollowerLink, FollowerReport, FollowerStop,
    OnRecord,
};
pub use lease::{Lease, LeaseConfig, LeaseValidity, LeaseValue};
pub use registry::{failover_bucket, FailoverRecord, Registry, StandbyBeat};
pub use replicator::{ReplicatedCursor, ReplicationStats, Replicator, ReplicatorConfig};
pub use stream::{ensure_stream, stream_name, subject, StreamSettings};
pub use venue::{
    fan_out, VenueAction, VenueDelivery, VenueLedger, VenueListener, VenueRequest,
    VENUE_CONTROL_SUBJECT,
};
