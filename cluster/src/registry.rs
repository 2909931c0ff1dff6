//! Who follows a shard besides its leader, and how its last failover went, for
//! `arbiter cluster status`. Display only: nothing here decides leadership (that is the
//! [`crate::Lease`]'s compare-and-set).
//!
//! * Standbys register with a heartbeat entry in the **lease bucket**, key
//!   `standby.<shard>.<node>`, value `node=<id> journal_seq=<n> lag=<n> updated_ns=<n>`,
//!   renewed at the lease's renew interval. The bucket's `max_age` is the lease TTL, so the
//!   entry of a standby that died is removed by the server like a lapsed lease; one that
//!   stops cleanly deletes its entry.
//! * The node that takes a lapsed lease over records the failover in a bucket without expiry,
//!   `<lease bucket>_failover`, key `failover.<shard>` (history 1: the last failover).
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use crate::error::{nats, ClusterError};
use crate::lease::{open_bucket, LeaseConfig};
use crate::stream::check_shard;

/// One standby's heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandbyBeat {
    /// The standby's node id.
    pub node_id: String,
    /// The last sequence its journal holds.
    pub journal_seq: u64,
    /// Records the stream holds beyond that (when it last looked).
    pub lag_records: u64,
    /// When it wrote this beat, ns since the Unix epoch (its clock).
    pub updated_ns: u64,
}

impl StandbyBeat {
    fn encode(&self) -> bytes::Bytes {
        bytes::Bytes::from(format!(
            "node={} journal_seq={} lag={} updated_ns={}",
            self.node_id, self.journal_seq, self.lag_records, self.updated_ns
        ))
    }

    /// Parses a beat's value (`None` for anything else).
    #[must_use]
    pub fn decode(value: &[u8]) -> Option<StandbyBeat> {
        let words = Words::parse(value)?;
        Some(StandbyBeat {
            node_id: words.text("node")?.to_owned(),
            journal_seq: words.number("journal_seq")?,
            lag_records: words.number("lag")?,
            updated_ns: words.number("updated_ns")?,
        })
    }
}

/// A failover as the node that took over saw it. Times are ns since the Unix epoch; 0 means
/// unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverRecord {
    /// The new leader's epoch.
    pub epoch: u64,
    /// The previous holder (as last seen in the lease entry).
    pub from_node: String,
    /// Its epoch.
    pub from_epoch: u64,
    /// The new leader.
    pub to_node: String,
    /// The server's time of the previous holder's last renew: it was alive then, and died
    /// (or lost NATS) less than one renew interval later.
    pub last_renew_ns: u64,
    /// The new leader's clock when it last saw the lease held.
    pub last_seen_held_ns: u64,
    /// When the new leader took the lease (its clock).
    pub taken_ns: u64,
    /// When the new leader's FIX listener opened (its clock).
    pub listening_ns: u64,
}

impl FailoverRecord {
    /// From the previous holder's last renew to the new leader's FIX listener opening: the
    /// failover as clients saw it, over-stated by less than one renew interval (the leader
    /// died after its last renew). Includes the lease TTL.
    #[must_use]
    pub fn failover_ms(&self) -> u64 {
        let from = if self.last_renew_ns == 0 {
            self.last_seen_held_ns
        } else {
            self.last_renew_ns
        };
        self.listening_ns.saturating_sub(from) / 1_000_000
    }

    /// From taking the lease to the FIX listener opening (catch-up and leader start-up).
    #[must_use]
    pub fn takeover_ms(&self) -> u64 {
        self.listening_ns.saturating_sub(self.taken_ns) / 1_000_000
    }

    fn encode(&self) -> bytes::Bytes {
        bytes::Bytes::from(format!(
            "epoch={} from={} from_epoch={} to={} last_renew_ns={} last_seen_held_ns={} \
             taken_ns={} listening_ns={}",
            self.epoch,
            self.from_node,
            self.from_epoch,
            self.to_node,
            self.last_renew_ns,
            self.last_seen_held_ns,
            self.taken_ns,
            self.listening_ns
        ))
    }

    /// Parses a record's value (`None` for anything else).
    #[must_use]
    pub fn decode(value: &[u8]) -> Option<FailoverRecord> {
        let words = Words::parse(value)?;
        Some(FailoverRecord {
            epoch: words.number("epoch")?,
            from_node: words.text("from")?.to_owned(),
            from_epoch: words.number("from_epoch")?,
            to_node: words.text("to")?.to_owned(),
            last_renew_ns: words.number("last_renew_ns")?,
            last_seen_held_ns: words.number("last_seen_held_ns")?,
            taken_ns: words.number("taken_ns")?,
            listening_ns: words.number("listening_ns")?,
        })
    }
}

/// `key=value` words (at most 16).
struct Words<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Words<'a> {
    fn parse(value: &'a [u8]) -> Option<Words<'a>> {
        let text = std::str::from_utf8(value).ok()?;
        let words: Vec<(&str, &str)> = text
            .split_ascii_whitespace()
            .take(16)
            .map(|word| word.split_once('='))
            .collect::<Option<_>>()?;
        Some(Words(words))
    }

    fn text(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn number(&self, key: &str) -> Option<u64> {
        self.text(key)?.parse().ok()
    }
}

/// The bucket the failover records live in, next to the lease bucket.
#[must_use]
pub fn failover_bucket(lease_bucket: &str) -> String {
    format!("{lease_bucket}_failover")
}

/// A shard's standby registrations and failover record.
#[derive(Debug)]
pub struct Registry {
    shard: String,
    leases: kv::Store,
    failovers: kv::Store,
}

impl Registry {
    /// Opens (creating if needed) the lease bucket (as [`crate::Lease::open`] does, same
    /// checks) and the failover bucket, with the lease's replicas.
    ///
    /// # Errors
    /// [`ClusterError::Config`] on bad names or a bucket stored with other settings;
    /// [`ClusterError::Nats`].
    pub async fn open(
        context: &jetstream::Context,
        lease: &LeaseConfig,
    ) -> Result<Registry, ClusterError> {
        lease.validate()?;
        let leases = open_bucket(context, &lease.bucket, Some(lease.ttl), lease.replicas).await?;
        let failovers = open_bucket(
            context,
            &failover_bucket(&lease.bucket),
            None,
            lease.replicas,
        )
        .await?;
        Ok(Registry {
            shard: lease.shard.clone(),
            leases,
            failovers,
        })
    }

    fn standby_key(&self, node_id: &str) -> String {
        format!("standby.{}.{node_id}", self.shard)
    }

    /// Writes (or renews) this standby's heartbeat.
    ///
    /// # Errors
    /// [`ClusterError::Config`] for a bad node id; [`ClusterError::Nats`].
    pub async fn beat(&self, beat: &StandbyBeat) -> Result<(), ClusterError> {
        check_shard(&beat.node_id)?;
        self.leases
            .put(self.standby_key(&beat.node_id), beat.encode())
            .await
            .map_err(|e| nats("standby heartbeat", e))?;
        Ok(())
    }

    /// Removes this standby's heartbeat (a clean stop, or it became the leader).
    ///
    /// # Errors
    /// [`ClusterError::Nats`].
    pub async fn leave(&self, node_id: &str) -> Result<(), ClusterError> {
        self.leases
            .delete(self.standby_key(node_id))
            .await
            .map_err(|e| nats("remove standby heartbeat", e))
    }

    /// The shard's registered standbys, by node id. An entry is gone one lease TTL after its
    /// standby's last beat. `timeout` bounds the listing.
    ///
    /// # Errors
    /// [`ClusterError::Nats`].
    pub async fn standbys(&self, timeout: Duration) -> Result<Vec<StandbyBeat>, ClusterError> {
        let prefix = format!("standby.{}.", self.shard);
        let listing = async {
            let mut keys = self
                .leases
                .keys()
                .await
                .map_err(|e| nats("list the lease bucket", e))?;
            let mut found = Vec::new();
            while let Some(key) = keys.next().await {
                let key = key.map_err(|e| nats("list the lease bucket", e))?;
                if key.starts_with(&prefix) {
                    found.push(key);
                }
            }
            let mut beats = Vec::new();
            for key in found {
                let value = self
                    .leases
                    .get(key)
                    .await
                    .map_err(|e| nats("read a standby heartbeat", e))?;
                // Gone between the listing and the read: expired.
                if let Some(beat) = value.as_deref().and_then(StandbyBeat::decode) {
                    beats.push(beat);
                }
            }
            beats.sort_by(|a, b| a.node_id.cmp(&b.node_id));
            Ok(beats)
        };
        tokio::time::timeout(timeout, listing)
            .await
            .map_err(|_| ClusterError::Nats(format!("listing standbys took over {timeout:?}")))?
    }

    /// Records a failover of this shard (replaces the previous record).
    ///
    /// # Errors
    /// [`ClusterError::Nats`].
    pub async fn record_failover(&self, record: &FailoverRecord) -> Result<(), ClusterError> {
        self.failovers
            .put(format!("failover.{}", self.shard), record.encode())
            .await
            .map_err(|e| nats("record the failover", e))?;
        Ok(())
    }

    /// The shard's last failover, if any was recorded.
    ///
    /// # Errors
    /// [`ClusterError::Nats`]; a value that is not a record is reported, not skipped.
    pub async fn last_failover(&self) -> Result<Option<FailoverRecord>, ClusterError> {
        let Some(value) = self
            .failovers
            .get(format!("failover.{}", self.shard))
            .await
            .map_err(|e| nats("read the failover record", e))?
        else {
            return Ok(None);
        };
        FailoverRecord::decode(&value).map(Some).ok_or_else(|| {
            ClusterError::Config(format!(
                "failover record of shard {}: not a record: {:?}",
                self.shard,
                String::from_utf8_lossy(&value)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_and_records_round_trip_and_garbage_is_refused() {
        let beat = StandbyBeat {
            node_id: "host-b".into(),
            journal_seq: 42,
            lag_records: 3,
            updated_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(StandbyBeat::decode(&beat.encode()), Some(beat));
        let record = FailoverRecord {
            epoch: 9,
            from_node: "a".into(),
            from_epoch: 2,
            to_node: "b".into(),
            last_renew_ns: 1_000_000_000,
            last_seen_held_ns: 1_900_000_000,
            taken_ns: 2_100_000_000,
            listening_ns: 2_600_000_000,
        };
        assert_eq!(
            FailoverRecord::decode(&record.encode()),
            Some(record.clone())
        );
        assert_eq!(record.failover_ms(), 1_600);
        assert_eq!(record.takeover_ms(), 500);
        // Without the old holder's renew time: from when it was last seen held.
        let unknown = FailoverRecord {
            last_renew_ns: 0,
            ..record
        };
        assert_eq!(unknown.failover_ms(), 700);
        for garbage in [
            &b""[..],
            b"node=x",
            b"node=x journal_seq=q lag=0 updated_ns=1",
            b"\xff",
        ] {
            assert_eq!(StandbyBeat::decode(garbage), None, "{garbage:?}");
            assert_eq!(FailoverRecord::decode(garbage), None, "{garbage:?}");
        }
    }
}
