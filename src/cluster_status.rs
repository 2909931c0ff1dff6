//! `arbiter cluster status`: the shard's leader and epoch (from the lease bucket), the
//! stream's end, this node's journal position and lag behind the stream, the last failover
//! and its duration, then one line per registered standby (its journal position and lag).
//! Read-only: it asks NATS and reads the local journal; it never takes the lease.

use std::time::Duration;

use arbiter_cluster::{FailoverRecord, Lease, Registry, StandbyBeat};
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
    let (lease, stream, standbys, failover) = runtime.block_on(async {
        let context = nats_connection(cluster)
            .with_connect_timeout(Duration::from_secs(3))
            .jetstream()
            .await
            .map_err(|e| e.to_string())?;
        let lease_config = crate::lease_keeper::lease_config(cluster);
        let lease = Lease::open(&context, lease_config.clone())
            .await
            .map_err(|e| format!("lease bucket: {e}"))?
            .peek()
            .await
            .map_err(|e| format!("lease: {e}"))?;
        // Display only: an unreadable registry (a bucket whose replicas are still electing
        // a leader, say) is shown as unknown rather than hiding the lease and the stream.
        let (standbys, failover) = match Registry::open(&context, &lease_config).await {
            Ok(registry) => (
                registry
                    .standbys(Duration::from_secs(5))
                    .await
                    .map_err(|e| e.to_string()),
                registry.last_failover().await.map_err(|e| e.to_string()),
            ),
            Err(e) => (Err(format!("registry: {e}")), Err(format!("registry: {e}"))),
        };
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
        Ok::<_, String>((lease, stream, standbys, failover))
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
    match &standbys {
        Ok(standbys) => line.push_str(&format!(" standbys={}", standbys.len())),
        Err(e) => line.push_str(&format!(" standbys=unknown ({e})")),
    }
    match &failover {
        Ok(record) => line.push_str(&failover_words(record.as_ref())),
        Err(e) => line.push_str(&format!(" last_failover=unknown ({e})")),
    }
    let now_ns = arbiter_fix::system_clock_ns();
    for standby in standbys.iter().flatten() {
        line.push('\n');
        line.push_str(&standby_line(&cluster.shard, standby, now_ns));
    }
    Ok(line)
}

/// ` last_failover=<utc> failover_ms=<n> from=<node> to=<node> ...`, or
/// ` last_failover=none`.
fn failover_words(record: Option<&FailoverRecord>) -> String {
    let Some(record) = record else {
        return " last_failover=none".to_owned();
    };
    format!(
        " last_failover={} failover_ms={} from={} to={} failover_epoch={} takeover_ms={}",
        iso_utc_ms(record.listening_ns),
        record.failover_ms(),
        record.from_node,
        record.to_node,
        record.epoch,
        record.takeover_ms()
    )
}

/// One standby: `standby shard=.. node=.. journal_seq=.. lag_records=.. updated=.. age_ms=..`.
fn standby_line(shard: &str, beat: &StandbyBeat, now_ns: u64) -> String {
    format!(
        "standby shard={shard} node={} journal_seq={} lag_records={} updated={} age_ms={}",
        beat.node_id,
        beat.journal_seq,
        beat.lag_records,
        iso_utc_ms(beat.updated_ns),
        now_ns.saturating_sub(beat.updated_ns) / 1_000_000
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn iso_utc_ms(ns: u64) -> String {
    let mut buffer = [0u8; arbiter_fix::TIMESTAMP_LEN_MAX];
    let length =
        arbiter_fix::format_utc_timestamp(ns, arbiter_fix::TimestampPrecision::Millis, &mut buffer);
    // FIX form: YYYYMMDD-HH:MM:SS.mmm
    let fix = String::from_utf8_lossy(&buffer[..length]);
    if fix.len() < 21 {
        return fix.into_owned();
    }
    format!(
        "{}-{}-{}T{}Z",
        &fix[0..4],
        &fix[4..6],
        &fix[6..8],
        &fix[9..21]
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_and_standby_lines_name_times_in_utc() {
        // 2026-11-26T03:10:00.123Z
        let at = 1_795_662_600_123_000_000;
        assert_eq!(iso_utc_ms(at), "2026-11-26T03:10:00.123Z");
        assert_eq!(failover_words(None), " last_failover=none");
        let record = FailoverRecord {
            epoch: 12,
            from_node: "a".into(),
            from_epoch: 3,
            to_node: "b".into(),
            last_renew_ns: at - 1_500_000_000,
            last_seen_held_ns: at - 900_000_000,
            taken_ns: at - 400_000_000,
            listening_ns: at,
        };
        assert_eq!(
            failover_words(Some(&record)),
            " last_failover=2026-11-26T03:10:00.123Z failover_ms=1500 from=a to=b \
             failover_epoch=12 takeover_ms=400"
        );
        let beat = StandbyBeat {
            node_id: "b".into(),
            journal_seq: 77,
            lag_records: 2,
            updated_ns: at,
        };
        assert_eq!(
            standby_line("A", &beat, at + 250_000_000),
            "standby shard=A node=b journal_seq=77 lag_records=2 \
             updated=2026-11-26T03:10:00.123Z age_ms=250"
        );
    }
}
