//! The leader lease: one key per shard in a JetStream key-value bucket, taken and renewed
//! only by compare-and-set; its TTL is the bucket's `max_age`, so the server expires it.
//!
//! Leadership is decided from compare-and-set results only: a `get` on a replicated bucket
//! may be stale. The bucket's stream is created here (not with `create_key_value`, which
//! async-nats ≥ 0.41 cannot do against nats-server 2.9) and opened with `get_key_value`.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// A lease handle. Not `Sync`-shared: one owner renews; others watch [`Lease::held_flag`].
#[derive(Debug)]
pub struct Lease {
    config: LeaseConfig,
    store: kv::Store,
    revision: Option<u64>,
    epoch: u64,
    held: Arc<AtomicBool>,
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
        let stream_config = stream::Config {
            name: format!("KV_{}", config.bucket),
            subjects: vec![format!("$KV.{}.>", config.bucket)],
            max_messages_per_subject: 1,
            max_age: config.ttl,
            duplicate_window: config.ttl.min(Duration::from_secs(120)),
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            allow_rollup: true,
            deny_delete: true,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        let mut stream = context
            .get_or_create_stream(stream_config)
            .await
            .map_err(|e| nats("create lease bucket stream", e))?;
        let info = stream
            .info()
            .await
            .map_err(|e| nats("lease bucket info", e))?;
        if info.config.max_age != config.ttl
            || info.config.max_messages_per_subject != 1
            || info.config.num_replicas != config.replicas
        {
            return Err(ClusterError::Config(format!(
                "lease bucket {} has max_age {:?}, history {}, replicas {}; expected {:?}, 1, {}",
                config.bucket,
                info.config.max_age,
                info.config.max_messages_per_subject,
                info.config.num_replicas,
                config.ttl,
                config.replicas
            )));
        }
        let store = context
            .get_key_value(config.bucket.clone())
            .await
            .map_err(|e| nats("open lease bucket", e))?;
        Ok(Lease {
            config,
            store,
            revision: None,
            epoch: 0,
            held: Arc::new(AtomicBool::new(false)),
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
                Ok(true)
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(nats("stamp lease epoch", e)),
        }
    }

    /// Renews the lease by compare-and-set on the last revision this node wrote. On any
    /// failure the held flag drops: a leader whose renew fails must stop acknowledging.
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
        match self
            .store
            .update(&self.config.shard, value.encode(), revision)
            .await
        {
            Ok(next) => {
                self.revision = Some(next);
                Ok(())
            }
            Err(e) => {
                self.revision = None;
                self.held.store(false, Ordering::Release);
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
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
}
