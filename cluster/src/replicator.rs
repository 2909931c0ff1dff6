//! The replicator agent: follows the local journal behind the writer and publishes batches
//! of exact frame bytes to the shard's JetStream stream.
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_journal::{DurableCursor, FramePosition, FrameTail, FrameView, JournalId, Sequence};
use async_nats::jetstream::{self, context::Publish, context::PublishErrorKind};
use hdrhistogram::Histogram;

use crate::batch::{self, BatchBuilder, BatchHeader};
use crate::connection::NatsConnection;
use crate::error::{nats, ClusterError};
use crate::stream::{ensure_stream, subject, StreamSettings};

/// Replicator settings.
#[derive(Clone, Debug)]
pub struct ReplicatorConfig {
    /// NATS servers and TLS (a URL converts: `nats://127.0.0.1:4222`).
    pub connection: NatsConnection,
    /// Stream settings (shard, replicas, de-duplication window).
    pub stream: StreamSettings,
    /// Journal directory to follow.
    pub journal_dir: PathBuf,
    /// Identity and segment size of that journal (stamped in every batch).
    pub identity: JournalId,
    /// Segment size of that journal in bytes.
    pub segment_size_bytes: u64,
    /// Leader epoch (from the lease); part of every de-duplication id.
    pub epoch: u64,
    /// Most body bytes per batch message (keep below the server's `max_payload`, 1 MiB by
    /// default). 4 KiB–64 KiB is the measured sweet spot.
    pub batch_bytes_max: usize,
    /// Most batches published and not yet acknowledged.
    pub in_flight_max: usize,
    /// How long a publish waits for its acknowledgement before it is retried.
    pub ack_timeout: Duration,
    /// Retries of one batch before the replicator gives up (and reports the error).
    pub retries_max: u32,
    /// Longest sleep when there is nothing to read and nothing in flight: idle polls back
    /// off from a few microseconds to this (a record written at low load is picked up
    /// within about this long).
    pub idle_sleep: Duration,
    /// The lease's validity ([`crate::Lease::validity`]): batches are published only
    /// while it is valid (the replicator waits while it lapses, e.g. NATS unreachable for
    /// the renewals), and once revoked the replicator stops with [`ClusterError::LeaseLost`].
    pub lease: Option<Arc<crate::LeaseValidity>>,
}

impl ReplicatorConfig {
    /// Defaults for a journal: 64 KiB batches, 16 in flight, 5 s ack timeout, 5 retries,
    /// idle polls backing off to 200 µs.
    #[must_use]
    pub fn new(
        connection: impl Into<NatsConnection>,
        stream: StreamSettings,
        journal_dir: impl Into<PathBuf>,
        identity: JournalId,
        segment_size_bytes: u64,
    ) -> ReplicatorConfig {
        ReplicatorConfig {
            connection: connection.into(),
            stream,
            journal_dir: journal_dir.into(),
            identity,
            segment_size_bytes,
            epoch: 0,
            batch_bytes_max: 64 * 1024,
            in_flight_max: 16,
            ack_timeout: Duration::from_secs(5),
            retries_max: 5,
            idle_sleep: Duration::from_micros(200),
            lease: None,
        }
    }
}

/// "Replicated up to sequence N": advanced only from JetStream acknowledgements. The
/// gateway's hold-until-durable waits on `min(local durable, replicated)`.
#[derive(Clone, Debug, Default)]
pub struct ReplicatedCursor {
    sequence: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
}

impl ReplicatedCursor {
    /// Last sequence whose record JetStream acknowledged (0: none).
    #[must_use]
    pub fn get(&self) -> Sequence {
        Sequence(self.sequence.load(Ordering::Acquire))
    }

    /// Whether the replicator stopped on an error (fenced, NATS gone past retries): the
    /// cursor will not advance again.
    #[must_use]
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Waits (sleeping, never spinning) until `sequence` is replicated, the replicator
    /// fails, or `timeout` passes; returns whether it is replicated.
    #[must_use]
    pub fn wait_for(&self, sequence: Sequence, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.get() >= sequence {
                return true;
            }
            if self.is_failed() || Instant::now() >= deadline {
                return self.get() >= sequence;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn advance(&self, sequence: u64) {
        self.sequence.fetch_max(sequence, Ordering::AcqRel);
    }
}

/// What the replicator reports (cheap atomics, plus a publish-latency histogram).
#[derive(Debug)]
pub struct ReplicationStats {
    /// Records read from the journal but not yet acknowledged (plus, with a writer cursor,
    /// records written but not yet read).
    pub lag_records: AtomicU64,
    /// Age of the oldest read-but-unacknowledged frame, µs (0 when caught up).
    pub lag_us: AtomicU64,
    /// Batches acknowledged.
    pub batches: AtomicU64,
    /// Frames acknowledged (records and seals).
    pub frames: AtomicU64,
    /// Publishes retried after a timeout or broken connection.
    pub retries: AtomicU64,
    /// Acknowledgements the server marked duplicate (retries of stored batches).
    pub duplicates: AtomicU64,
    /// Publish-to-acknowledgement latency per batch, µs.
    pub publish_latency_us: Mutex<Histogram<u64>>,
}

impl Default for ReplicationStats {
    fn default() -> ReplicationStats {
        ReplicationStats {
            lag_records: AtomicU64::new(0),
            lag_us: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            publish_latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds"),
            ),
        }
    }
}

/// The replicator thread.
#[derive(Debug)]
pub struct Replicator {
    thread: Option<JoinHandle<Result<(), ClusterError>>>,
    stop: Arc<AtomicBool>,
    cursor: ReplicatedCursor,
    stats: Arc<ReplicationStats>,
}

impl Replicator {
    /// Starts the replicator thread. It resumes after the last batch in the stream (so a
    /// restart never republishes), checks that batch belongs to this journal, then follows
    /// the journal. `written` (the writer's cursor) only feeds the lag figure.
    ///
    /// # Errors
    /// [`ClusterError::Server`] when the thread cannot be spawned. Errors inside the thread
    /// (connection, fencing, a foreign stream) end it; [`Replicator::stop`] returns them and
    /// [`ReplicatedCursor::is_failed`] turns true.
    pub fn spawn(
        config: ReplicatorConfig,
        written: Option<DurableCursor>,
    ) -> Result<Replicator, ClusterError> {
        Self::spawn_with_cursor(config, written, ReplicatedCursor::default())
    }

    /// As [`Replicator::spawn`], advancing an existing cursor (a replicator restarted after
    /// NATS came back keeps the cursor the gateway waits on); its failed mark is cleared.
    ///
    /// # Errors
    /// As [`Replicator::spawn`].
    pub fn spawn_with_cursor(
        config: ReplicatorConfig,
        written: Option<DurableCursor>,
        cursor: ReplicatedCursor,
    ) -> Result<Replicator, ClusterError> {
        let stop = Arc::new(AtomicBool::new(false));
        cursor.failed.store(false, Ordering::Release);
        let stats = Arc::new(ReplicationStats::default());
        let thread = {
            let (stop, cursor, stats) = (Arc::clone(&stop), cursor.clone(), Arc::clone(&stats));
            std::thread::Builder::new()
                .name(format!("replicator-{}", config.stream.shard))
                .spawn(move || {
                    let result = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| ClusterError::Server(format!("tokio runtime: {e}")))
                        .and_then(|rt| {
                            rt.block_on(run(&config, written.as_ref(), &stop, &cursor, &stats))
                        });
                    if result.is_err() {
                        cursor.failed.store(true, Ordering::Release);
                    }
                    result
                })
                .map_err(|e| ClusterError::Server(format!("spawn replicator thread: {e}")))?
        };
        Ok(Replicator {
            thread: Some(thread),
            stop,
            cursor,
            stats,
        })
    }

    /// The replicated cursor.
    #[must_use]
    pub fn cursor(&self) -> ReplicatedCursor {
        self.cursor.clone()
    }

    /// Shared statistics.
    #[must_use]
    pub fn stats(&self) -> Arc<ReplicationStats> {
        Arc::clone(&self.stats)
    }

    /// Asks the thread to stop after what is in flight is acknowledged (the journal's tail
    /// that is already written is published first), and joins it.
    ///
    /// # Errors
    /// The error that ended the thread, if any.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ClusterError::Server("replicator thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct InFlight {
    header: BatchHeader,
    payload: bytes::Bytes,
    message_id: String,
    expected_last: u64,
    ack: Option<jetstream::context::PublishAckFuture>,
    sent_at: Instant,
    read_at: Instant,
}

/// Where the stream ends: its last stream sequence and the journal position after it.
pub(crate) async fn stream_end(
    stream: &jetstream::stream::Stream,
    identity: JournalId,
    segment_size: u64,
) -> Result<(u64, Option<BatchHeader>), ClusterError> {
    let info = stream
        .get_info()
        .await
        .map_err(|e| nats("journal stream info", e))?;
    let last = info.state.last_sequence;
    if info.state.messages == 0 {
        return Ok((last, None));
    }
    let message = stream
        .get_raw_message(last)
        .await
        .map_err(|e| nats("read the stream's last batch", e))?;
    let (header, _) = batch::decode(&message.payload).map_err(|reason| ClusterError::BadBatch {
        stream_sequence: last,
        reason,
    })?;
    check_identity(last, &header, identity, segment_size)?;
    Ok((last, Some(header)))
}

pub(crate) fn check_identity(
    stream_sequence: u64,
    header: &BatchHeader,
    identity: JournalId,
    segment_size: u64,
) -> Result<(), ClusterError> {
    if header.identity != identity || header.segment_size != segment_size {
        return Err(ClusterError::BadBatch {
            stream_sequence,
            reason: format!(
                "batch of journal {} (segment size {}), this journal is {identity} ({segment_size})",
                header.identity, header.segment_size
            ),
        });
    }
    Ok(())
}

fn first_segment(dir: &std::path::Path) -> Result<Sequence, ClusterError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ClusterError::Config(format!("list {}: {e}", dir.display())))?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(arbiter_journal::layout::parse_segment_file_name)
        })
        .min()
        .map(Sequence)
        .ok_or_else(|| ClusterError::Config(format!("no segment in {}", dir.display())))
}

async fn run(
    config: &ReplicatorConfig,
    written: Option<&DurableCursor>,
    stop: &AtomicBool,
    cursor: &ReplicatedCursor,
    stats: &ReplicationStats,
) -> Result<(), ClusterError> {
    if config.batch_bytes_max == 0 || config.in_flight_max == 0 {
        return Err(ClusterError::Config(
            "batch_bytes_max and in_flight_max must be at least 1".into(),
        ));
    }
    let mut context = config.connection.jetstream().await?;
    context.set_timeout(config.ack_timeout);
    let stream = ensure_stream(&context, &config.stream).await?;
    let (mut last_stream_sequence, last) =
        stream_end(&stream, config.identity, config.segment_size_bytes).await?;
    let start = match last {
        Some(header) => {
            cursor.advance(header.last_sequence.0);
            header.end
        }
        None => FramePosition::segment_start(first_segment(&config.journal_dir)?),
    };
    let mut tail = FrameTail::open(&config.journal_dir, start)?;
    // Built once: a `Subject` is a cheap reference-counted clone per publish.
    let subject = async_nats::Subject::from(subject(&config.stream.shard));
    let mut builder = BatchBuilder::new(
        config.identity,
        config.segment_size_bytes,
        config.batch_bytes_max,
    );
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(config.in_flight_max);
    let mut batch_read_at = Instant::now();
    let mut idle_rounds = 0u32;
    loop {
        // Fill a batch with whatever is already written (bounded by the batch size).
        let mut read = 0u32;
        loop {
            let position = tail.position();
            let Some((_, frame)) = tail.poll()? else {
                break;
            };
            if builder.is_empty() {
                batch_read_at = Instant::now();
            }
            let frame_len = frame.aligned_len();
            // `fits` is true for an empty batch: an oversized frame still goes alone.
            debug_assert!(builder.fits(frame_len) || !builder.is_empty());
            if !builder.fits(frame_len) {
                // Does not fit: publish what we have first; this frame starts the next batch.
                let (header, payload) = builder.finish();
                publish_next(
                    config,
                    &context,
                    &subject,
                    header,
                    payload,
                    batch_read_at,
                    &mut last_stream_sequence,
                    &mut in_flight,
                    cursor,
                    stats,
                )
                .await?;
                batch_read_at = Instant::now();
            }
            let next = next_position(position, &frame);
            builder.push(position, &frame, next);
            read += 1;
            if read >= 1 << 16 {
                break;
            }
        }
        if !builder.is_empty() && in_flight.len() < config.in_flight_max {
            let (header, payload) = builder.finish();
            publish_next(
                config,
                &context,
                &subject,
                header,
                payload,
                batch_read_at,
                &mut last_stream_sequence,
                &mut in_flight,
                cursor,
                stats,
            )
            .await?;
        }
        if let Some(front) = in_flight.front() {
            let age = front.read_at.elapsed();
            stats.lag_us.store(
                u64::try_from(age.as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        } else {
            stats.lag_us.store(0, Ordering::Relaxed);
        }
        let tail_next = tail.next_sequence().0.saturating_sub(1);
        let writer_last = written.map_or(tail_next, |w| w.written().0.max(tail_next));
        stats.lag_records.store(
            writer_last.saturating_sub(cursor.get().0),
            Ordering::Relaxed,
        );
        // Acknowledgements: wait for the oldest when the window is full or nothing was read.
        if in_flight.len() >= config.in_flight_max || (read == 0 && !in_flight.is_empty()) {
            settle_front(config, &context, &subject, &mut in_flight, cursor, stats).await?;
            continue;
        }
        if read == 0 && in_flight.is_empty() && builder.is_empty() {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            idle_rounds = idle_rounds.saturating_add(1);
            idle_wait(idle_rounds, config.idle_sleep).await;
        } else {
            idle_rounds = 0;
        }
    }
}

/// Waits before the next poll of an idle journal: a backoff from 5 µs to `longest`.
///
/// tokio's timer has millisecond resolution, which at low load would add up to a
/// millisecond to every round trip; the thread sleeps instead (nothing is in flight, so
/// the connection task has nothing urgent; it runs first, at the yield).
async fn idle_wait(idle_rounds: u32, longest: Duration) {
    tokio::task::yield_now().await;
    let backoff = Duration::from_micros(5 * u64::from(idle_rounds.min(64)));
    std::thread::sleep(backoff.min(longest));
}

/// The position after `frame`, read at `position`.
pub(crate) fn next_position(position: FramePosition, frame: &FrameView<'_>) -> FramePosition {
    if frame.ends_segment() {
        FramePosition::segment_start(frame.sequence().next())
    } else {
        FramePosition {
            segment_first_sequence: position.segment_first_sequence,
            offset: position.offset + frame.aligned_len() as u64,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn publish_next(
    config: &ReplicatorConfig,
    context: &jetstream::Context,
    subject: &async_nats::Subject,
    header: BatchHeader,
    payload: bytes::Bytes,
    read_at: Instant,
    last_stream_sequence: &mut u64,
    in_flight: &mut VecDeque<InFlight>,
    cursor: &ReplicatedCursor,
    stats: &ReplicationStats,
) -> Result<(), ClusterError> {
    while in_flight.len() >= config.in_flight_max {
        settle_front(config, context, subject, in_flight, cursor, stats).await?;
    }
    if let Some(lease) = &config.lease {
        // Bounded by the lease: it is renewed (valid again) or revoked by the holder.
        while !lease.is_valid() {
            if lease.is_revoked() {
                return Err(ClusterError::LeaseLost(
                    "the lease is no longer held: publishing stopped".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Each publish adds exactly one message, so the expected last sequence is predicted.
    let expected_last = *last_stream_sequence;
    *last_stream_sequence += 1;
    let mut entry = InFlight {
        message_id: batch::message_id(&config.stream.shard, config.epoch, &header),
        header,
        payload,
        expected_last,
        ack: None,
        sent_at: Instant::now(),
        read_at,
    };
    entry.ack = send(context, subject, &entry).await.ok();
    in_flight.push_back(entry);
    Ok(())
}

async fn send(
    context: &jetstream::Context,
    subject: &async_nats::Subject,
    entry: &InFlight,
) -> Result<jetstream::context::PublishAckFuture, ClusterError> {
    let range = format!(
        "{}-{}",
        entry.header.first_sequence.0, entry.header.last_sequence.0
    );
    let publish = Publish::build()
        .payload(entry.payload.clone())
        .message_id(&entry.message_id)
        .expected_last_sequence(entry.expected_last)
        .header("Arbiter-Range", range.as_str());
    context
        .send_publish(subject.clone(), publish)
        .await
        .map_err(|e| nats("publish batch", e))
}

/// Waits for the oldest in-flight batch's acknowledgement; on a timeout or a broken
/// connection, re-sends it and every later one in order (same ids and expected sequences:
/// a stored batch comes back as a duplicate, a lost one is stored).
async fn settle_front(
    config: &ReplicatorConfig,
    context: &jetstream::Context,
    subject: &async_nats::Subject,
    in_flight: &mut VecDeque<InFlight>,
    cursor: &ReplicatedCursor,
    stats: &ReplicationStats,
) -> Result<(), ClusterError> {
    let mut attempts = 0u32;
    loop {
        let Some(front) = in_flight.front_mut() else {
            return Ok(());
        };
        let outcome = match front.ack.take() {
            Some(ack) => ack.await,
            None => Err(PublishErrorKind::BrokenPipe.into()),
        };
        match outcome {
            Ok(ack) => {
                let expected = front.expected_last + 1;
                if ack.sequence != expected {
                    return Err(ClusterError::Discontinuity(format!(
                        "batch {} stored at stream sequence {} instead of {expected}",
                        front.message_id, ack.sequence
                    )));
                }
                if ack.duplicate {
                    stats.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                let latency =
                    u64::try_from(front.sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
                if let Ok(mut histogram) = stats.publish_latency_us.lock() {
                    let _ = histogram.record(latency.max(1));
                }
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats
                    .frames
                    .fetch_add(u64::from(front.header.frame_count), Ordering::Relaxed);
                cursor.advance(front.header.last_sequence.0);
                in_flight.pop_front();
                return Ok(());
            }
            Err(e) => match e.kind() {
                PublishErrorKind::WrongLastSequence => {
                    return Err(ClusterError::Fenced {
                        expected_last: front.expected_last,
                    });
                }
                PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe
                    if attempts < config.retries_max =>
                {
                    attempts += 1;
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50 << attempts.min(5))).await;
                    for entry in in_flight.iter_mut() {
                        entry.sent_at = Instant::now();
                        entry.ack = send(context, subject, entry).await.ok();
                    }
                }
                _ => return Err(nats("publish batch", e)),
            },
        }
    }
}
