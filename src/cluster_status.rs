//! `arbiter cluster status`: the shard's leader and epoch (from the lease bucket), the
//! stream's end, and this node's journal position and lag behind the stream. Read-only:
//! it asks NATS and reads the local journal; it never takes the lease.

use std::time::Duration;

use arbiter_cluster::{Lease, LeaseConfig};
use arbiter_config::Config;
use arbiter_journal::{Reader, Sequence};

use crate::cluster_agent::nats_connection;

/// The status lines (`key=value` words) for the configured shard.
///
/// # Errors
/// No `[cluster]` section, NATS unreachable, or a bucket/stream that cannot be read.
pub fn status(config: &Config) -> Result<String, String> {
    let cluster = config
        .cluster
        .as_ref()
        .ok_or("no [cluster] section in this configuration")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let (lease, stream) = runtime.block_on(async {
        let context = nats_connection(cluster)
            .with_connect_timeout(Duration::from_secs(3))
            .jetstream()
            .await
            .map_err(|e| e.to_string())?;
        let lease = Lease::open(
            &context,
            LeaseConfig {
                bucket: cluster.lease_bucket.clone(),
                shard: cluster.shard.clone(),
                node_id: cluster.node_id.clone(),
                ttl: Duration::from_millis(cluster.lease_ttl_ms),
                renew_interval: Duration::from_millis(cluster.lease_renew_ms),
                replicas: cluster.replicas,
            },
        )
        .await
        .map_err(|e| format!("lease bucket: {e}"))?
        .peek()
        .await
        .map_err(|e| format!("lease: {e}"))?;
        let stream = match context
            .get_stream(arbiter_cluster::stream_name(&cluster.shard))
            .await
        {
            Ok(mut stream) => {
                let state = stream
                    .info()
                    .await
                    .map_err(|e| format!("journal stream: {e}"))?
                    .state
                    .clone();
                let last = if state.messages == 0 {
                    0
                } else {
                    let message = stream
                        .get_raw_message(state.last_sequence)
                        .await
                        .map_err(|e| format!("journal stream: {e}"))?;
                    arbiter_cluster::batch::decode(&message.payload)
                        .map(|(header, _)| header.last_sequence.0)
                        .map_err(|reason| format!("the stream's last batch: {reason}"))?
                };
                Some((state.messages, state.bytes, last))
            }
            Err(_) => None,
        };
        Ok::<_, String>((lease, stream))
    })?;
    let local = local_last_sequence(config);
    let mut line = format!("shard={}", cluster.shard);
    match lease {
        Some(value) => line.push_str(&format!(" leader={} epoch={}", value.node_id, value.epoch)),
        None => line.push_str(" leader=none (the lease is free: a standby takes it)"),
    }
    match stream {
        Some((messages, bytes, last)) => {
            line.push_str(&format!(
                " stream_batches={messages} stream_bytes={bytes} stream_last_seq={last}"
            ));
            if let Some(local) = local {
                line.push_str(&format!(
                    " this_node={} journal_last_seq={local} lag_records={}",
                    cluster.node_id,
                    last.saturating_sub(local)
                ));
            }
        }
        None => line.push_str(" stream=absent"),
    }
    Ok(line)
}

/// The last sequence of this node's journal (read-only), if it has one.
fn local_last_sequence(config: &Config) -> Option<u64> {
    let dir = config.journal_dir();
    let newest = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(arbiter_journal::layout::parse_segment_file_name)
        })
        .max()?;
    let reader = Reader::open(&dir).ok()?;
    reader
        .iter_from_seq(Sequence(newest))
        .filter_map(Result::ok)
        .map(|record| record.sequence().0)
        .last()
        .or(Some(newest.saturating_sub(1)))
}
