//! The standby follower: consumes the shard's stream from where its own journal ends,
//! verifies every frame, appends the same bytes, and hands each user record to a callback
//! only once a seal has verified it (CRC, sequence and hash chain).
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arbiter_journal::{FramePosition, FrameView, RecordType, Sequence, TimestampNs, Writer};
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use crate::batch::{self, BatchHeader};
use crate::connection::NatsConnection;
use crate::error::{nats, ClusterError};
use crate::replicator::{check_identity, next_position};
use crate::stream::{check_shard, stream_name, subject};

/// The record callback: `(type, sequence, timestamp, payload)`; an `Err` stops the follower.
pub type OnRecord<'a> =
    dyn FnMut(RecordType, Sequence, TimestampNs, &[u8]) -> Result<(), String> + 'a;

/// Follower settings.
#[derive(Clone, Debug)]
pub struct FollowerConfig {
    /// NATS servers and TLS.
    pub connection: NatsConnection,
    /// Shard whose stream to follow.
    pub shard: String,
    /// Return once a record with at least this sequence was applied.
    pub until: Option<Sequence>,
    /// Return when no new message arrived for this long (`None`: only on stop or `until`).
    pub idle_timeout: Option<Duration>,
    /// How often the stop flag is looked at while waiting.
    pub poll_interval: Duration,
}

impl FollowerConfig {
    /// Follows until stopped.
    #[must_use]
    pub fn new(connection: impl Into<NatsConnection>, shard: impl Into<String>) -> FollowerConfig {
        FollowerConfig {
            connection: connection.into(),
            shard: shard.into(),
            until: None,
            idle_timeout: None,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// Why [`follow`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerStop {
    /// The `until` sequence was applied.
    Reached,
    /// Nothing arrived within the idle timeout.
    Idle,
    /// The stop flag was set.
    Stopped,
}

/// What [`follow`] did.
#[derive(Clone, Copy, Debug)]
pub struct FollowerReport {
    /// Last user sequence handed to the callback (0: none).
    pub applied_through: Sequence,
    /// Records handed to the callback.
    pub records_applied: u64,
    /// Frames appended (records and seals).
    pub frames_appended: u64,
    /// Stream messages consumed.
    pub batches: u64,
    /// Why it returned.
    pub stop: FollowerStop,
}

/// Records appended but not yet covered by a verified seal.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    frames: VecDeque<(FramePosition, usize, usize)>,
}

/// Follows the shard's stream into `writer` until `until`, idle, or `stop`.
///
/// `writer` must be a journal with the leader's identity and segment size (checked against
/// every batch); it resumes from its own end. `on_record(type, sequence, timestamp,
/// payload)` gets every user record (COMMAND, DIGEST, CONFIG, ...) in order, each only after
/// the seal whose hash covers it was verified against this journal's own bytes.
///
/// # Errors
/// [`ClusterError::BadBatch`] for garbage, a foreign journal's batch or a bad frame;
/// [`ClusterError::Discontinuity`] when the stream skips or rewrites what this journal
/// holds; [`ClusterError::Journal`] when a frame fails its CRC or the chain;
/// [`ClusterError::Apply`] from the callback; [`ClusterError::Nats`]. Nothing from a
/// refused batch is appended, and no record is handed over unless sealed.
pub fn follow(
    config: &FollowerConfig,
    writer: &mut Writer,
    stop: &AtomicBool,
    on_record: &mut OnRecord<'_>,
) -> Result<FollowerReport, ClusterError> {
    follow_inner(config, writer, stop, on_record, None, &mut |_| {})
}

/// A reconnecting follower that received nothing for this long asks the stream whether it
/// holds more; if so, its consumer is stalled and it reconnects.
const STALL_CHECK_AFTER: Duration = Duration::from_secs(2);
/// Each stall in a row doubles the wait before the next check, up to this: on a box too
/// busy to deliver within the first wait, replacing the consumer every time would never
/// let one deliver.
const STALL_CHECK_MAX: Duration = Duration::from_secs(30);

/// What [`follow_reconnecting`] tells its caller about its link to NATS.
#[derive(Debug)]
pub enum FollowerLink<'a> {
    /// Following: the stream is open and its consumer created.
    Up,
    /// NATS failed (unreachable, the consumer ended); it tries again after `retry_in`.
    Down {
        /// What failed.
        error: &'a ClusterError,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
}

/// As [`follow`], but a NATS failure (unreachable at start, lost while following) is not
/// the end: it reports it to `on_link`, waits `retry_in` (watching `stop`) and reconnects,
/// resuming from this journal's end. Records appended but not yet covered by a seal stay
/// pending across reconnects, so each is still handed over exactly once.
///
/// # Errors
/// As [`follow`], except [`ClusterError::Nats`].
pub fn follow_reconnecting(
    config: &FollowerConfig,
    writer: &mut Writer,
    stop: &AtomicBool,
    on_record: &mut OnRecord<'_>,
    retry_in: Duration,
    on_link: &mut dyn FnMut(FollowerLink<'_>),
) -> Result<FollowerReport, ClusterError> {
    follow_inner(config, writer, stop, on_record, Some(retry_in), on_link)
}

/// What a [`follow`] keeps across reconnects.
struct Progress {
    report: FollowerReport,
    pending: Pending,
    last_message: Instant,
    /// The current stall check's wait (doubles per stall in a row, back to
    /// [`STALL_CHECK_AFTER`] once a message arrives).
    stall_after: Duration,
}

fn follow_inner(
    config: &FollowerConfig,
    writer: &mut Writer,
    stop: &AtomicBool,
    on_record: &mut OnRecord<'_>,
    retry_in: Option<Duration>,
    on_link: &mut dyn FnMut(FollowerLink<'_>),
) -> Result<FollowerReport, ClusterError> {
    check_shard(&config.shard)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Server(format!("tokio runtime: {e}")))?;
    let mut progress = Progress {
        report: FollowerReport {
            applied_through: Sequence(0),
            records_applied: 0,
            frames_appended: 0,
            batches: 0,
            stop: FollowerStop::Stopped,
        },
        pending: Pending::default(),
        last_message: Instant::now(),
        stall_after: STALL_CHECK_AFTER,
    };
    loop {
        let error = match runtime.block_on(follow_async(
            config,
            writer,
            stop,
            on_record,
            &mut progress,
            &mut *on_link,
            retry_in.is_some(),
        )) {
            Ok(()) => return Ok(progress.report),
            Err(error @ ClusterError::Nats(_)) => error,
            Err(error) => return Err(error),
        };
        let Some(retry_in) = retry_in else {
            return Err(error);
        };
        on_link(FollowerLink::Down {
            error: &error,
            retry_in,
        });
        let deadline = Instant::now() + retry_in;
        while Instant::now() < deadline {
            if let Some(stop_why) =
                should_stop(config, stop, progress.last_message, &progress.report)
            {
                progress.report.stop = stop_why;
                return Ok(progress.report);
            }
            std::thread::sleep(config.poll_interval.min(deadline - Instant::now()));
        }
    }
}

async fn follow_async(
    config: &FollowerConfig,
    writer: &mut Writer,
    stop: &AtomicBool,
    on_record: &mut OnRecord<'_>,
    progress: &mut Progress,
    on_link: &mut dyn FnMut(FollowerLink<'_>),
    stall_check: bool,
) -> Result<(), ClusterError> {
    let context = config.connection.jetstream().await?;
    // Wait for the stream to exist and hold something.
    let stream = loop {
        if let Ok(stream) = context.get_stream(stream_name(&config.shard)).await {
            if stream.cached_info().state.messages > 0 {
                break stream;
            }
        }
        if let Some(stop_why) = should_stop(config, stop, progress.last_message, &progress.report) {
            progress.report.stop = stop_why;
            return Ok(());
        }
        tokio::time::sleep(config.poll_interval).await;
    };
    let start = find_start(&stream, writer).await?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject(&config.shard),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| nats("create ordered consumer", e))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| nats("consume journal stream", e))?;
    on_link(FollowerLink::Up);
    // The stream sequence of the last message consumed, and when the stream was last asked
    // whether it holds more (a consumer lost with a restarted server can take many seconds
    // to notice; a reconnecting follower starts a fresh one instead).
    let mut consumed = start.saturating_sub(1);
    let mut asked = Instant::now();
    loop {
        if let Some(stop_why) = should_stop(config, stop, progress.last_message, &progress.report) {
            progress.report.stop = stop_why;
            return Ok(());
        }
        let next = tokio::time::timeout(config.poll_interval, messages.next()).await;
        let message = match next {
            Err(_) => {
                if stall_check
                    && progress.last_message.elapsed() >= progress.stall_after
                    && asked.elapsed() >= progress.stall_after
                {
                    asked = Instant::now();
                    let info = stream
                        .get_info()
                        .await
                        .map_err(|e| nats("journal stream info", e))?;
                    if info.state.last_sequence > consumed {
                        progress.stall_after = (progress.stall_after * 2).min(STALL_CHECK_MAX);
                        return Err(ClusterError::Nats(format!(
                            "the consumer delivered nothing for {:?} while the stream holds \
                             up to {} (consumed {consumed}): stalled",
                            progress.last_message.elapsed(),
                            info.state.last_sequence
                        )));
                    }
                }
                continue;
            }
            Ok(None) => return Err(ClusterError::Nats("journal consumer ended".into())),
            Ok(Some(Err(e))) => return Err(nats("consume journal stream", e)),
            Ok(Some(Ok(message))) => message,
        };
        progress.last_message = Instant::now();
        progress.stall_after = STALL_CHECK_AFTER;
        let stream_sequence = message.info().map_or(0, |info| info.stream_sequence);
        consumed = consumed.max(stream_sequence);
        apply_batch(
            stream_sequence,
            &message.payload,
            writer,
            &mut progress.pending,
            on_record,
            &mut progress.report,
        )?;
        progress.report.batches += 1;
    }
}

fn should_stop(
    config: &FollowerConfig,
    stop: &AtomicBool,
    last_message: Instant,
    report: &FollowerReport,
) -> Option<FollowerStop> {
    if config
        .until
        .is_some_and(|until| report.applied_through >= until)
    {
        return Some(FollowerStop::Reached);
    }
    if stop.load(Ordering::Acquire) {
        return Some(FollowerStop::Stopped);
    }
    if config
        .idle_timeout
        .is_some_and(|idle| last_message.elapsed() >= idle)
    {
        return Some(FollowerStop::Idle);
    }
    None
}

/// The stream sequence of the last batch starting at or before this journal's end
/// (binary search over batch headers: O(log n) message reads).
async fn find_start(
    stream: &jetstream::stream::Stream,
    writer: &Writer,
) -> Result<u64, ClusterError> {
    let info = stream
        .get_info()
        .await
        .map_err(|e| nats("journal stream info", e))?;
    let here = writer.frame_position();
    let (mut low, mut high) = (info.state.first_sequence, info.state.last_sequence);
    let first = read_header(stream, writer, low).await?;
    if first.start > here {
        return Err(ClusterError::Discontinuity(format!(
            "the stream's first batch starts at {:?}, after this journal's end {here:?}",
            first.start
        )));
    }
    // Invariant: batch `low` starts at or before `here`. Bounded by log2(messages) reads.
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if read_header(stream, writer, middle).await?.start <= here {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    Ok(low)
}

async fn read_header(
    stream: &jetstream::stream::Stream,
    writer: &Writer,
    sequence: u64,
) -> Result<BatchHeader, ClusterError> {
    let message = stream
        .get_raw_message(sequence)
        .await
        .map_err(|e| nats("read a batch", e))?;
    let (header, _) = batch::decode(&message.payload).map_err(|reason| ClusterError::BadBatch {
        stream_sequence: sequence,
        reason,
    })?;
    check_identity(
        sequence,
        &header,
        writer.identity(),
        writer.segment_size_bytes(),
    )?;
    Ok(header)
}

/// Checks a whole batch first (header, CRC, identity, every frame's CRC and positions),
/// then appends the frames this journal does not hold yet, then hands over sealed records.
fn apply_batch(
    stream_sequence: u64,
    payload: &[u8],
    writer: &mut Writer,
    pending: &mut Pending,
    on_record: &mut OnRecord<'_>,
    report: &mut FollowerReport,
) -> Result<(), ClusterError> {
    let bad = |reason: String| ClusterError::BadBatch {
        stream_sequence,
        reason,
    };
    let (header, body) = batch::decode(payload).map_err(bad)?;
    check_identity(
        stream_sequence,
        &header,
        writer.identity(),
        writer.segment_size_bytes(),
    )?;
    // Pass 1: frames tile the body and the positions add up to the header's.
    let mut position = header.start;
    let mut at = 0usize;
    let mut count = 0u32;
    while at < body.len() {
        let frame = FrameView::parse(&body[at..])
            .map_err(|kind| bad(format!("frame {count} at body offset {at}: {kind}")))?;
        position = next_position(position, &frame);
        at += frame.aligned_len();
        count += 1;
    }
    if count != header.frame_count || position != header.end {
        return Err(bad(format!(
            "{count} frames ending at {position:?}; header says {} ending at {:?}",
            header.frame_count, header.end
        )));
    }
    let here = writer.frame_position();
    if header.start > here {
        return Err(ClusterError::Discontinuity(format!(
            "batch at stream sequence {stream_sequence} starts at {:?}, this journal ends at {here:?}",
            header.start
        )));
    }
    // Pass 2: append what is new, verbatim; the writer re-checks CRC, sequence and chain.
    let mut position = header.start;
    let mut at = 0usize;
    while at < body.len() {
        let frame = FrameView::parse(&body[at..])
            .map_err(|kind| bad(format!("frame at body offset {at}: {kind}")))?;
        let next = next_position(position, &frame);
        at += frame.aligned_len();
        if position < writer.frame_position() {
            position = next;
            continue;
        }
        if position != writer.frame_position() {
            return Err(ClusterError::Discontinuity(format!(
                "frame at {position:?}, journal at {:?}",
                writer.frame_position()
            )));
        }
        writer.append_frame(frame.bytes())?;
        report.frames_appended += 1;
        if frame.is_seal() {
            deliver_sealed(&frame, pending, on_record, report)?;
        } else {
            let start = pending.bytes.len();
            pending.bytes.extend_from_slice(frame.bytes());
            pending
                .frames
                .push_back((position, start, frame.aligned_len()));
        }
        position = next;
    }
    Ok(())
}

/// Hands over the pending records the (already verified) seal covers.
fn deliver_sealed(
    seal: &FrameView<'_>,
    pending: &mut Pending,
    on_record: &mut OnRecord<'_>,
    report: &mut FollowerReport,
) -> Result<(), ClusterError> {
    let payload = seal.payload();
    let block_end = u64::from_le_bytes(
        payload[arbiter_journal::layout::SEAL_BLOCK_END_OFFSET
            ..arbiter_journal::layout::SEAL_BLOCK_END_OFFSET + 8]
            .try_into()
            .unwrap_or_default(),
    );
    let ends_segment = seal.ends_segment();
    while let Some(&(position, start, len)) = pending.frames.front() {
        if !ends_segment && position.offset >= block_end {
            break;
        }
        let frame = FrameView::parse(&pending.bytes[start..start + len])
            .map_err(|kind| ClusterError::Discontinuity(format!("pending frame: {kind}")))?;
        on_record(
            frame.record_type(),
            frame.sequence(),
            frame.timestamp(),
            frame.payload(),
        )
        .map_err(ClusterError::Apply)?;
        report.applied_through = frame.sequence();
        report.records_applied += 1;
        pending.frames.pop_front();
    }
    if pending.frames.is_empty() {
        pending.bytes.clear();
    }
    Ok(())
}
