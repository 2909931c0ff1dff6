//! The leader lease: one key per shard in a JetStream key-value bucket, taken and renewed
//! only by compare-and-set; its TTL is the bucket's `max_age`, so the server expires it.
//!
//! Leadership is decided from compare-and-set results only: a `get` on a replicated bucket
//! may be stale. The bucket's stream is created here (not with `create_key_value`, which
//! async-nats ≥ 0.41 cannot do against nats-server 2.9) and opened with `get_key_value`.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, stream};

use crate::error::{nats, ClusterError};
use crate::stream::check_shard;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Bucket name (`KV_<bucket>` is its stream).
    pub bucket: String,
    /// Shard: the key.
    pub shard: String,
    /// This node's id (letters, digits, `-`, `_`).
    pub node_id: String,
    /// Lease lifetime: an entry not renewed within it is removed by the server.
    pub ttl: Duration,
    /// Renew interval; must be shorter than `ttl` (a third of it is a good choice).
    pub renew_interval: Duration,
    /// Replicas of the bucket (1 for tests, 3 in production).
    pub replicas: usize,
}

impl LeaseConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`ClusterError::Config`] for a TTL not longer than the renew interval, a TTL under
    /// 1 s (the server's expiry timer is coarse), or bad names.
    pub fn validate(&self) -> Result<(), ClusterError> {
        check_shard(&self.shard)?;
        check_shard(&self.node_id)?;
        check_shard(&self.bucket)?;
        if self.renew_interval.is_zero() || self.ttl <= self.renew_interval {
            return Err(ClusterError::Config(format!(
                "lease ttl {:?} must be longer than the renew interval {:?}",
                self.ttl, self.renew_interval
            )));
        }
        if self.ttl < Duration::from_secs(1) {
            return Err(ClusterError::Config(
                "lease ttl must be at least 1 s".into(),
            ));
        }
        Ok(())
    }
}

/// What the lease entry holds: the holder and its epoch (the revision at which it took
/// the lease: strictly greater for every later holder, since stream sequences never repeat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseValue {
    /// Holder.
    pub node_id: String,
    /// Epoch.
    pub epoch: u64,
}

impl LeaseValue {
    fn encode(&self) -> bytes::Bytes {
        bytes::Bytes::from(format!("node={} epoch={}", self.node_id, self.epoch))
    }

    /// Parses an entry value.
    #[must_use]
    pub fn decode(value: &[u8]) -> Option<LeaseValue> {
        let text = std::str::from_utf8(value).ok()?;
        let (node, epoch) = text.split_once(' ')?;
        Some(LeaseValue {
            node_id: node.strip_prefix("node=")?.to_owned(),
            epoch: epoch.strip_prefix("epoch=")?.parse().ok()?,
        })
    }
}

/// Until when the holder may act as leader, on this process's monotonic clock: half the TTL
/// after the last successful take or renew was *sent* (the server cannot expire the entry
/// before a TTL after it received that write, and a standby takes it only after that and a
/// catch-up). A paused process (SIGSTOP, a long GC-like stall) finds it lapsed on waking,
/// before any of its threads could renew. [`LeaseValidity::revoke`] ends it for good.
#[derive(Debug)]
pub struct LeaseValidity {
    base: Instant,
    until_ms: AtomicU64,
    revoked: AtomicBool,
}

impl Default for LeaseValidity {
    fn default() -> Self {
        LeaseValidity {
            base: Instant::now(),
            until_ms: AtomicU64::new(0),
            revoked: AtomicBool::new(false),
        }
    }
}

impl LeaseValidity {
    /// Whether the holder may act now (publish, acknowledge).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        !self.is_revoked()
            && u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
                < self.until_ms.load(Ordering::Acquire)
    }

    /// Whether it was revoked (the lease is known lost: fenced).
    #[must_use]
    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// Ends validity for good (fencing).
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
    }

    fn extend(&self, sent: Instant, ttl: Duration) {
        let until = sent.saturating_duration_since(self.base) + ttl / 2;
        self.until_ms.store(
            u64::try_from(until.as_millis()).unwrap_or(u64::MAX),
            Ordering::Release,
        );
    }
}

/// A lease handle. Not `Sync`-shared: one owner renews; others watch [`Lease::held_flag`].
#[derive(Debug)]
pub struct Lease {
    config: LeaseConfig,
    store: kv::Store,
    revision: Option<u64>,
    epoch: u64,
    held: Arc<AtomicBool>,
    validity: Arc<LeaseValidity>,
}

impl Lease {
    /// Opens (creating if needed) the bucket and checks its configuration.
    ///
    /// # Errors
    /// [`ClusterError::Config`] on bad settings or a bucket whose stored TTL, history or
    /// replicas differ; [`ClusterError::Nats`].
    pub async fn open(
        context: &jetstream::Context,
        config: LeaseConfig,
    ) -> Result<Lease, ClusterError> {
        config.validate()?;
        let store = open_bucket(context, &config.bucket, Some(config.ttl), config.replicas).await?;
        Ok(Lease {
            config,
            store,
            revision: None,
            epoch: 0,
            held: Arc::new(AtomicBool::new(false)),
            validity: Arc::new(LeaseValidity::default()),
        })
    }

    /// Tries to take the lease: succeeds only if the key is absent (never held, or expired
    /// after `ttl` without renewal). Returns whether this node now holds it. On success the
    /// epoch is the revision of the taking write.
    ///
    /// # Errors
    /// [`ClusterError::Nats`] when the server cannot be asked (not the same as "held by
    /// another": that is `Ok(false)`).
    pub async fn try_acquire(&mut self) -> Result<bool, ClusterError> {
        let sent = Instant::now();
        let provisional = LeaseValue {
            node_id: self.config.node_id.clone(),
            epoch: 0,
        };
        let revision = match self
            .store
            .create(&self.config.shard, provisional.encode())
            .await
        {
            Ok(revision) => revision,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(nats("take lease", e)),
        };
        // Stamp the epoch (= the taking revision) with a second compare-and-set.
        let value = LeaseValue {
            node_id: self.config.node_id.clone(),
            epoch: revision,
        };
        match self
            .store
            .update(&self.config.shard, value.encode(), revision)
            .await
        {
            Ok(next) => {
                self.revision = Some(next);
                self.epoch = revision;
                self.held.store(true, Ordering::Release);
                self.validity.extend(sent, self.config.ttl);
                Ok(true)
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(nats("stamp lease epoch", e)),
        }
    }

    /// Renews the lease by compare-and-set on the last revision this node wrote. On any
    /// failure the held flag drops: a leader whose renew fails must stop acknowledging.
    /// After a NATS error the revision is kept, so a later renew can still succeed if the
    /// entry did not expire meanwhile ([`Lease::validity`] lapses on its own until then).
    ///
    /// # Errors
    /// [`ClusterError::LeaseLost`] when not held or the revision moved (expired and taken,
    /// or taken over); [`ClusterError::Nats`] when the server cannot be reached (the flag
    /// drops too: an unconfirmed lease is not held).
    pub async fn renew(&mut self) -> Result<(), ClusterError> {
        let Some(revision) = self.revision else {
            self.held.store(false, Ordering::Release);
            return Err(ClusterError::LeaseLost("not held".into()));
        };
        let value = LeaseValue {
            node_id: self.config.node_id.clone(),
            epoch: self.epoch,
        };
        let sent = Instant::now();
        match self
            .store
            .update(&self.config.shard, value.encode(), revision)
            .await
        {
            Ok(next) => {
                self.revision = Some(next);
                self.held.store(true, Ordering::Release);
                self.validity.extend(sent, self.config.ttl);
                Ok(())
            }
            Err(e) => {
                self.held.store(false, Ordering::Release);
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                    self.revision = None;
                    Err(ClusterError::LeaseLost(format!(
                        "revision {revision} is no longer the lease's: expired or taken"
                    )))
                } else {
                    Err(nats("renew lease", e))
                }
            }
        }
    }

    /// Whether the last acquire or renew succeeded (and no renew failed since). Between
    /// renewals this is a belief, not a fact: renew at `renew_interval` and fence on `false`.
    #[must_use]
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// The fencing flag, for other threads (e.g. the gateway stops acknowledging when it
    /// turns false).
    #[must_use]
    pub fn held_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.held)
    }

    /// The validity window (shared with the replicator, which publishes only within it).
    #[must_use]
    pub fn validity(&self) -> Arc<LeaseValidity> {
        Arc::clone(&self.validity)
    }

    /// Epoch of the current holding (0 if never held).
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The revision of this node's last write (for tests and status).
    #[must_use]
    pub fn revision(&self) -> Option<u64> {
        self.revision
    }

    /// Test hook: pretend the last write had `revision` (a stale revision makes the next
    /// renew fail like a paused leader's would).
    #[doc(hidden)]
    pub fn set_revision_for_test(&mut self, revision: u64) {
        self.revision = Some(revision);
    }

    /// The renew interval.
    #[must_use]
    pub fn renew_interval(&self) -> Duration {
        self.config.renew_interval
    }

    /// Reads the current entry. Possibly stale on a replicated bucket: for display only,
    /// never to decide leadership.
    ///
    /// # Errors
    /// [`ClusterError::Nats`].
    pub async fn peek(&self) -> Result<Option<LeaseValue>, ClusterError> {
        let value = self
            .store
            .get(&self.config.shard)
            .await
            .map_err(|e| nats("read lease", e))?;
        Ok(value.and_then(|v| LeaseValue::decode(&v)))
    }

    /// As [`Lease::peek`], with the server's time of the entry's last write (the holder's
    /// last take or renew), in nanoseconds since the Unix epoch. Display and failover
    /// records only.
    ///
    /// # Errors
    /// [`ClusterError::Nats`].
    pub async fn peek_written(&self) -> Result<Option<(LeaseValue, u64)>, ClusterError> {
        let entry = self
            .store
            .entry(self.config.shard.clone())
            .await
            .map_err(|e| nats("read lease", e))?;
        Ok(entry.and_then(|entry| {
            if entry.operation != kv::Operation::Put {
                return None;
            }
            let written_ns = u64::try_from(entry.created.unix_timestamp_nanos()).unwrap_or(0);
            LeaseValue::decode(&entry.value).map(|value| (value, written_ns))
        }))
    }
}

/// Creates (if needed) the stream of a key-value bucket with history 1 and, for `ttl`, that
/// `max_age` (no expiry without), checks what the server stored (2.9 drops what it does not
/// know) and opens the bucket with `get_key_value` (see the module notes on 2.9).
pub(crate) async fn open_bucket(
    context: &jetstream::Context,
    bucket: &str,
    ttl: Option<Duration>,
    replicas: usize,
) -> Result<kv::Store, ClusterError> {
    check_shard(bucket)?;
    let max_age = ttl.unwrap_or(Duration::ZERO);
    let stream_config = stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        duplicate_window: ttl.map_or(Duration::from_secs(120), |ttl| {
            ttl.min(Duration::from_secs(120))
        }),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    let mut stream = context
        .get_or_create_stream(stream_config)
        .await
        .map_err(|e| nats(&format!("create bucket stream KV_{bucket}"), e))?;
    let info = stream
        .info()
        .await
        .map_err(|e| nats(&format!("bucket {bucket} info"), e))?;
    if info.config.max_age != max_age
        || info.config.max_messages_per_subject != 1
        || info.config.num_replicas != replicas
    {
        return Err(ClusterError::Config(format!(
            "bucket {bucket} has max_age {:?}, history {}, replicas {}; expected {max_age:?}, 1, \
             {replicas}",
            info.config.max_age, info.config.max_messages_per_subject, info.config.num_replicas,
        )));
    }
    context
        .get_key_value(bucket.to_owned())
        .await
        .map_err(|e| nats(&format!("open bucket {bucket}"), e))
}
