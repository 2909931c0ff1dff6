//! The per-shard journal stream: name, subject, creation and the check of what the server
//! actually stored (2.9 silently drops settings it does not know).
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::error::{nats, ClusterError};

/// Stream settings for one shard.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Shard name: letters, digits, `-` and `_` only (it is part of a stream name).
    pub shard: String,
    /// Replicas: 1 for a laptop or tests, 3 in production.
    pub replicas: usize,
    /// De-duplication window: retries within it are stored once.
    pub duplicate_window: Duration,
}

/// JetStream stream name of a shard's journal.
#[must_use]
pub fn stream_name(shard: &str) -> String {
    format!("ARBITER_{shard}")
}

/// Subject a shard's journal batches are published on.
#[must_use]
pub fn subject(shard: &str) -> String {
    format!("arbiter.{shard}.journal")
}

pub(crate) fn check_shard(shard: &str) -> Result<(), ClusterError> {
    if shard.is_empty()
        || !shard
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ClusterError::Config(format!(
            "shard name {shard:?} must be non-empty letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

/// Creates the shard's stream (file storage, `replicas`, no limits, de-duplication window)
/// or opens it, and checks the configuration the server reports.
///
/// # Errors
/// [`ClusterError::Nats`] when the request fails; [`ClusterError::Config`] when the stored
/// configuration differs (storage, replicas, subject, window).
pub async fn ensure_stream(
    context: &jetstream::Context,
    settings: &StreamSettings,
) -> Result<stream::Stream, ClusterError> {
    check_shard(&settings.shard)?;
    let config = stream::Config {
        name: stream_name(&settings.shard),
        subjects: vec![subject(&settings.shard)],
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        ..Default::default()
    };
    let mut stream = context
        .get_or_create_stream(config)
        .await
        .map_err(|e| nats("create journal stream", e))?;
    let info = stream
        .info()
        .await
        .map_err(|e| nats("journal stream info", e))?;
    let stored = &info.config;
    if stored.storage != stream::StorageType::File
        || stored.num_replicas != settings.replicas
        || stored.subjects != vec![subject(&settings.shard)]
        || stored.duplicate_window != settings.duplicate_window
    {
        return Err(ClusterError::Config(format!(
            "stream {} has storage {:?}, replicas {}, subjects {:?}, duplicate window {:?}; \
             expected file, {}, [{}], {:?}",
            stored.name,
            stored.storage,
            stored.num_replicas,
            stored.subjects,
            stored.duplicate_window,
            settings.replicas,
            subject(&settings.shard),
            settings.duplicate_window
        )));
    }
    Ok(stream)
}
