//! One FIX initiator session of the load generator.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbiter_fix::{decode, FixVersion, Header, Message, MessageBuilder, TimestampPrecision};
use hdrhistogram::Histogram;

use super::wire::Wire;
use super::{sender_comp_id, LoadConfig, LoadCounts, LoadError, Pacing, RequestKind};
use crate::recorder::latency_histogram;

/// ClOrdIDs are `RUNID` (8 hex digits, unique per run) followed by the request number, so
/// repeated runs against one daemon never reuse a ClOrdID.
const RUN_ID_LEN: usize = 8;
const LOGON_TIMEOUT: Duration = Duration::from_secs(5);
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(2);
const SEND_BUFFER_BYTES: usize = 64 * 1024;
const MESSAGE_BYTES_MAX: usize = 1024;

pub(crate) fn run_id() -> u32 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_secs() as u32).wrapping_mul(2_654_435_761) ^ t.subsec_nanos()
}

/// What one session measured.
#[derive(Debug)]
pub(crate) struct SessionResult {
    pub(crate) counts: LoadCounts,
    pub(crate) elapsed: Duration,
    pub(crate) new_order_latency: Histogram<u64>,
    pub(crate) intervals: [Vec<Histogram<u64>>; 3],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OrderState {
    Pending,
    Live,
    Done,
}

#[derive(Clone, Copy, Debug)]
struct Request {
    kind: RequestKind,
    /// Send time (closed loop) or intended send time (open loop), ns since the run clock.
    sent_ns: u64,
    /// For cancel/replace: the request index of the order it targets.
    target: u32,
    answered: bool,
    /// Side of the order (of the target for cancels and replaces).
    buy: bool,
    /// Order state of the ClOrdID this request introduced (new order or replace).
    state: OrderState,
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Session<'c> {
    config: &'c LoadConfig,
    sender: String,
    wire: Wire,
    out_seq: u64,
    /// Request index per outbound MsgSeqNum (u32::MAX: not a request), for session rejects.
    seq_to_request: Vec<u32>,
    requests: Vec<Request>,
    /// Live resting orders (request indices), oldest first.
    pool: VecDeque<u32>,
    tx: Vec<u8>,
    clock: Instant,
    last_sent_ns: u64,
    run_prefix: [u8; RUN_ID_LEN],
    rng: Rng,
    counts: LoadCounts,
    outstanding: u64,
    new_order_latency: Histogram<u64>,
    intervals: [Vec<Histogram<u64>>; 3],
    interval_ns: u64,
    measure_from_ns: u64,
    logged_out: bool,
    logon_answered: bool,
    /// Writes may not block past this (set to the run's bound once logged on).
    send_deadline: Instant,
    /// The acceptor stopped reading until the send deadline: the run ends.
    stalled: bool,
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(crate) fn run_session(
    config: &LoadConfig,
    index: u32,
    requests: u64,
    run_id: u32,
    barrier: &Barrier,
    measured_start: &OnceLock<(Instant, SystemTime)>,
) -> Result<SessionResult, LoadError> {
    let logon = (|| {
        let stream = TcpStream::connect_timeout(&config.connect, LOGON_TIMEOUT)?;
        let mut session = Session::new(config, index, requests, run_id, Wire::new(stream)?);
        session.logon()?;
        Ok::<_, LoadError>(session)
    })();
    // Every session thread reaches the barrier exactly once, logged on or not.
    barrier.wait();
    let mut session = logon?;
    let (start, _) = *measured_start.get_or_init(|| (Instant::now(), SystemTime::now()));
    session.measure_from_ns =
        u64::try_from(start.saturating_duration_since(session.clock).as_nanos()).unwrap_or(0);
    let result = session.drive(requests);
    let elapsed_ns = session.now_ns().saturating_sub(session.measure_from_ns);
    session.logout();
    result?;
    Ok(SessionResult {
        counts: session.counts,
        elapsed: Duration::from_nanos(elapsed_ns),
        new_order_latency: session.new_order_latency,
        intervals: session.intervals,
    })
}

impl<'c> Session<'c> {
    fn new(config: &'c LoadConfig, index: u32, requests: u64, run_id: u32, wire: Wire) -> Self {
        let capacity = usize::try_from(requests).unwrap_or(usize::MAX / 64);
        let mut run_prefix = [0u8; RUN_ID_LEN];
        let hex = format!("{run_id:08x}");
        run_prefix.copy_from_slice(hex.as_bytes());
        Session {
            config,
            sender: sender_comp_id(&config.sender_pattern, config.first_session + index),
            wire,
            out_seq: 1,
            seq_to_request: Vec::with_capacity(capacity + 1024),
            requests: Vec::with_capacity(capacity),
            pool: VecDeque::with_capacity(capacity.min(1 << 20)),
            tx: Vec::with_capacity(SEND_BUFFER_BYTES),
            clock: Instant::now(),
            last_sent_ns: 0,
            run_prefix,
            rng: Rng(config.seed ^ (u64::from(index) << 32)),
            counts: LoadCounts::default(),
            outstanding: 0,
            new_order_latency: latency_histogram(),
            intervals: [Vec::new(), Vec::new(), Vec::new()],
            interval_ns: u64::try_from(config.hlog_interval.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            measure_from_ns: 0,
            logged_out: false,
            logon_answered: false,
            send_deadline: Instant::now() + LOGON_TIMEOUT,
            stalled: false,
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Starts a message in the send buffer; `body` adds the fields after the header.
    fn push_message(&mut self, msg_type: &[u8], body: impl FnOnce(&mut MessageBuilder<'_>)) {
        let mut buf = [0u8; MESSAGE_BYTES_MAX];
        let header = Header {
            sender_comp_id: self.sender.as_bytes(),
            target_comp_id: self.config.target_comp_id.as_bytes(),
            msg_seq_num: self.out_seq,
            sending_time_ns: wall_ns(),
            precision: TimestampPrecision::Micros,
            orig_sending_time_ns: None,
        };
        let mut b = MessageBuilder::new(&mut buf, self.config.version, msg_type);
        b.header(&header);
        body(&mut b);
        let bytes = b.finish().expect("load messages fit 1 KiB");
        self.tx.extend_from_slice(bytes);
        self.out_seq += 1;
    }

    fn flush(&mut self) -> Result<(), LoadError> {
        if !self.tx.is_empty() {
            let sent = self.wire.send(&self.tx, self.send_deadline);
            self.tx.clear();
            match sent {
                Ok(()) => self.last_sent_ns = self.now_ns(),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => self.stalled = true,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn logon(&mut self) -> Result<(), LoadError> {
        let (heartbeat_s, reset, fixt) = (
            self.config.heartbeat_s,
            self.config.reset_seq_num,
            self.config.version == FixVersion::Fixt11,
        );
        self.seq_to_request.push(u32::MAX); // seq 0 unused
        self.seq_to_request.push(u32::MAX);
        self.push_message(b"A", |b| {
            b.push_u64(98, 0);
            b.push_u64(108, u64::from(heartbeat_s));
            if reset {
                b.push_char(141, b'Y');
            }
            if fixt {
                b.push_str(1137, b"9");
            }
        });
        self.flush()?;
        let deadline = Instant::now() + LOGON_TIMEOUT;
        while !self.logon_answered {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LoadError::Logon(format!(
                    "{}: no Logon answer within 5 s",
                    self.sender
                )));
            }
            self.wire.receive(left.min(Duration::from_millis(100)))?;
            self.process_input()?;
            if self.wire.closed || self.logged_out {
                return Err(LoadError::Logon(format!(
                    "{}: acceptor closed the connection or logged out",
                    self.sender
                )));
            }
        }
        Ok(())
    }

    fn clord_id(&self, index: u32, out: &mut [u8; 24]) -> usize {
        out[..RUN_ID_LEN].copy_from_slice(&self.run_prefix);
        let mut digits = [0u8; 10];
        let mut start = digits.len();
        let mut value = index;
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        let n = digits.len() - start;
        out[RUN_ID_LEN..RUN_ID_LEN + n].copy_from_slice(&digits[start..]);
        RUN_ID_LEN + n
    }

    fn parse_clord_id(&self, id: &[u8]) -> Option<u32> {
        if id.len() <= RUN_ID_LEN || id[..RUN_ID_LEN] != self.run_prefix {
            return None;
        }
        std::str::from_utf8(&id[RUN_ID_LEN..]).ok()?.parse().ok()
    }

    fn price_field(b: &mut MessageBuilder<'_>, cents: i64) {
        b.push_decimal(44, cents.max(1), 2);
    }

    /// Queues the next request, intended at `intended_ns`.
    fn send_request(&mut self, intended_ns: u64) {
        let config = self.config;
        let roll = self.rng.below(u64::from(config.mix.total()));
        let mix = config.mix;
        let mut kind = if roll < u64::from(mix.rest) {
            0
        } else if roll < u64::from(mix.rest + mix.cross) {
            1
        } else if roll < u64::from(mix.rest + mix.cross + mix.cancel) {
            2
        } else {
            3
        };
        let target = if kind >= 2 {
            let mut found = None;
            while let Some(candidate) = self.pool.pop_front() {
                if self.requests[candidate as usize].state == OrderState::Live {
                    found = Some(candidate);
                    break;
                }
            }
            if found.is_none() {
                kind = 0; // nothing to cancel or replace: rest a new order instead
            }
            found.unwrap_or(u32::MAX)
        } else {
            u32::MAX
        };
        let index = u32::try_from(self.requests.len()).expect("fewer than 2^32 requests");
        let mut id = [0u8; 24];
        let id_len = self.clord_id(index, &mut id);
        let side_buy = self.rng.below(2) == 0;
        let offset = i64::try_from(1 + self.rng.below(50)).unwrap_or(1);
        let qty = config.qty;
        let (symbol, account) = (&config.symbol, &config.account);
        let request_kind = match kind {
            0 | 1 => RequestKind::NewOrder,
            2 => RequestKind::Cancel,
            _ => RequestKind::Replace,
        };
        while self.seq_to_request.len() <= usize::try_from(self.out_seq).unwrap_or(usize::MAX) {
            self.seq_to_request.push(u32::MAX);
        }
        self.seq_to_request[usize::try_from(self.out_seq).unwrap_or(0)] = index;
        let transact_ns = wall_ns();
        match kind {
            0 | 1 => {
                let crossing = kind == 1;
                let cents = match (side_buy, crossing) {
                    (true, false) => config.price_cents - offset,
                    (false, false) => config.price_cents + offset,
                    (true, true) => config.price_cents + 100,
                    (false, true) => config.price_cents - 100,
                };
                self.push_message(b"D", |b| {
                    b.push_str(11, &id[..id_len]);
                    if let Some(account) = account {
                        b.push_str(1, account.as_bytes());
                    }
                    b.push_str(55, symbol.as_bytes());
                    b.push_char(54, if side_buy { b'1' } else { b'2' });
                    b.push_timestamp(60, transact_ns, TimestampPrecision::Micros);
                    b.push_u64(38, qty);
                    b.push_char(40, b'2');
                    Self::price_field(b, cents);
                    b.push_char(59, if crossing { b'3' } else { b'1' });
                });
                self.counts.new_orders += 1;
            }
            _ => {
                let mut orig = [0u8; 24];
                let orig_len = self.clord_id(target, &mut orig);
                let is_cancel = kind == 2;
                let target_side_buy = self.requests[target as usize].buy;
                let cents = if target_side_buy {
                    config.price_cents - offset
                } else {
                    config.price_cents + offset
                };
                self.push_message(if is_cancel { b"F" } else { b"G" }, |b| {
                    b.push_str(11, &id[..id_len]);
                    b.push_str(41, &orig[..orig_len]);
                    if let Some(account) = account {
                        b.push_str(1, account.as_bytes());
                    }
                    b.push_str(55, symbol.as_bytes());
                    b.push_char(54, if target_side_buy { b'1' } else { b'2' });
                    b.push_timestamp(60, transact_ns, TimestampPrecision::Micros);
                    b.push_u64(38, qty + 1);
                    if !is_cancel {
                        b.push_char(40, b'2');
                        Self::price_field(b, cents);
                    }
                });
                if is_cancel {
                    self.counts.cancels += 1;
                } else {
                    self.counts.replaces += 1;
                }
            }
        }
        let buy = if target == u32::MAX {
            side_buy
        } else {
            self.requests[target as usize].buy
        };
        self.requests.push(Request {
            kind: request_kind,
            sent_ns: intended_ns,
            target,
            answered: false,
            buy,
            state: OrderState::Pending,
        });
        self.counts.requests += 1;
        self.outstanding += 1;
    }

    /// Sends requests as the pacing allows and processes answers until every request is
    /// answered or the time bound passes.
    fn drive(&mut self, requests: u64) -> Result<(), LoadError> {
        let config = self.config;
        let deadline_ns = self
            .now_ns()
            .saturating_add(u64::try_from(config.duration_max.as_nanos()).unwrap_or(u64::MAX));
        let period_ns = match config.pacing {
            Pacing::OpenLoop { rate_per_s } => {
                let per_session = rate_per_s / f64::from(config.sessions);
                Some(1e9 / per_session)
            }
            Pacing::ClosedLoop { .. } => None,
        };
        let window = match config.pacing {
            Pacing::ClosedLoop { window } => u64::from(window),
            Pacing::OpenLoop { .. } => u64::MAX,
        };
        let heartbeat_ns = u64::from(config.heartbeat_s.max(1)) * 1_000_000_000;
        let start_ns = self.measure_from_ns;
        self.send_deadline = self.clock + Duration::from_nanos(deadline_ns);
        let mut sent: u64 = 0;
        loop {
            let now = self.now_ns();
            if now >= deadline_ns || self.wire.closed || self.logged_out || self.stalled {
                break;
            }
            match period_ns {
                None => {
                    while sent < requests && self.outstanding < window {
                        self.send_request(now);
                        sent += 1;
                    }
                }
                Some(period) => {
                    while sent < requests {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let intended = start_ns + (sent as f64 * period) as u64;
                        if intended > now {
                            break;
                        }
                        self.send_request(intended);
                        sent += 1;
                        if self.tx.len() > SEND_BUFFER_BYTES - MESSAGE_BYTES_MAX {
                            self.flush()?;
                        }
                    }
                }
            }
            if self.tx.is_empty() && now.saturating_sub(self.last_sent_ns) >= heartbeat_ns {
                self.push_message(b"0", |_| {});
                self.counts.heartbeats_sent += 1;
            }
            self.flush()?;
            if sent >= requests && self.outstanding == 0 {
                break;
            }
            // Wait for input until the next send is due, a heartbeat is due or the bound.
            let mut wake_ns = deadline_ns.min(self.last_sent_ns + heartbeat_ns);
            if let Some(period) = period_ns {
                if sent < requests {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let next = start_ns + (sent as f64 * period) as u64;
                    wake_ns = wake_ns.min(next);
                }
            }
            let wait = Duration::from_nanos(wake_ns.saturating_sub(self.now_ns()));
            self.wire.receive(wait)?;
            self.process_input()?;
        }
        self.record_unanswered();
        Ok(())
    }

    /// Requests never answered are recorded at their age at the end of the run (a lower
    /// bound of their latency): leaving them out would hide exactly the worst cases. They
    /// stay out of `acked` and `rejected`.
    fn record_unanswered(&mut self) {
        let now_ns = self.now_ns();
        let interval =
            usize::try_from(now_ns.saturating_sub(self.measure_from_ns) / self.interval_ns)
                .unwrap_or(usize::MAX)
                .min(1 << 20);
        for request in self.requests.iter().filter(|r| !r.answered) {
            let latency = now_ns.saturating_sub(request.sent_ns).max(1);
            let slots = &mut self.intervals[request.kind as usize];
            while slots.len() <= interval {
                slots.push(latency_histogram());
            }
            slots[interval].saturating_record(latency);
            if request.kind == RequestKind::NewOrder {
                self.new_order_latency.saturating_record(latency);
            }
        }
    }

    fn process_input(&mut self) -> Result<(), LoadError> {
        while let Some(range) = self.wire.next_message() {
            let now = self.now_ns();
            // Copy out of the receive buffer so answers may be queued while reading it.
            let mut copy = [0u8; 4096];
            let bytes = self.wire.bytes(range);
            let len = bytes.len().min(copy.len());
            copy[..len].copy_from_slice(&bytes[..len]);
            let Ok(msg) = decode(&copy[..len]) else {
                continue;
            };
            self.on_message(&msg, now);
        }
        self.flush()
    }

    fn answer(&mut self, index: u32, now_ns: u64, rejected: bool) {
        let Some(request) = self.requests.get_mut(index as usize) else {
            return;
        };
        if request.answered {
            return;
        }
        request.answered = true;
        let kind = request.kind;
        let latency = now_ns.saturating_sub(request.sent_ns).max(1);
        self.outstanding -= 1;
        if rejected {
            self.counts.rejected += 1;
            request.state = OrderState::Done;
        } else {
            self.counts.acked += 1;
        }
        let interval =
            usize::try_from(now_ns.saturating_sub(self.measure_from_ns) / self.interval_ns)
                .unwrap_or(usize::MAX);
        let slots = &mut self.intervals[kind as usize];
        while slots.len() <= interval.min(1 << 20) {
            slots.push(latency_histogram());
        }
        slots[interval.min(1 << 20)].saturating_record(latency);
        if kind == RequestKind::NewOrder {
            self.new_order_latency.saturating_record(latency);
        }
    }

    fn on_execution_report(&mut self, msg: &Message<'_>, now_ns: u64) {
        let Some(index) = msg.get(11).and_then(|id| self.parse_clord_id(id)) else {
            return;
        };
        let exec_type = msg
            .get(150)
            .and_then(|v| v.first().copied())
            .unwrap_or(b'?');
        let ord_status = msg.get(39).and_then(|v| v.first().copied()).unwrap_or(b'?');
        if exec_type == b'F' {
            self.counts.fills += 1;
        }
        let rejected = exec_type == b'8' || ord_status == b'8';
        self.answer(index, now_ns, rejected);
        let Some(request) = self.requests.get(index as usize).copied() else {
            return;
        };
        if rejected {
            return;
        }
        match exec_type {
            b'4' if request.kind == RequestKind::Cancel => {
                if let Some(target) = self.requests.get_mut(request.target as usize) {
                    target.state = OrderState::Done;
                }
                self.requests[index as usize].state = OrderState::Done;
            }
            b'5' if request.kind == RequestKind::Replace => {
                if let Some(target) = self.requests.get_mut(request.target as usize) {
                    target.state = OrderState::Done;
                }
                if self.requests[index as usize].state == OrderState::Pending {
                    self.requests[index as usize].state = OrderState::Live;
                    self.pool.push_back(index);
                }
            }
            _ => {
                let done = matches!(ord_status, b'2' | b'3' | b'4' | b'C');
                let entry = &mut self.requests[index as usize];
                if done {
                    entry.state = OrderState::Done;
                } else if entry.state == OrderState::Pending
                    && request.kind == RequestKind::NewOrder
                {
                    entry.state = OrderState::Live;
                    self.pool.push_back(index);
                }
            }
        }
    }

    fn on_message(&mut self, msg: &Message<'_>, now_ns: u64) {
        match msg.msg_type() {
            b"8" => self.on_execution_report(msg, now_ns),
            b"9" => {
                if let Some(index) = msg.get(11).and_then(|id| self.parse_clord_id(id)) {
                    self.answer(index, now_ns, true);
                }
            }
            b"3" | b"j" => {
                let by_seq = msg
                    .get(45)
                    .and_then(arbiter_fix::parse_u64)
                    .and_then(|seq| self.seq_to_request.get(usize::try_from(seq).ok()?).copied())
                    .filter(|&i| i != u32::MAX);
                let by_id = msg.get(379).and_then(|id| self.parse_clord_id(id));
                if let Some(index) = by_seq.or(by_id) {
                    self.answer(index, now_ns, true);
                }
            }
            b"1" => {
                let id = msg.get(112).map(<[u8]>::to_vec).unwrap_or_default();
                self.push_message(b"0", |b| {
                    if !id.is_empty() {
                        b.push_str(112, &id);
                    }
                });
                self.counts.test_requests += 1;
            }
            b"2" => {
                // ResendRequest: we keep no store, so gap-fill everything asked for.
                let begin = msg.get(7).and_then(arbiter_fix::parse_u64).unwrap_or(1);
                let next = self.out_seq;
                let saved = self.out_seq;
                self.out_seq = begin;
                let sending = wall_ns();
                let mut buf = [0u8; MESSAGE_BYTES_MAX];
                let header = Header {
                    sender_comp_id: self.sender.as_bytes(),
                    target_comp_id: self.config.target_comp_id.as_bytes(),
                    msg_seq_num: begin,
                    sending_time_ns: sending,
                    precision: TimestampPrecision::Micros,
                    orig_sending_time_ns: Some(sending),
                };
                let mut b = MessageBuilder::new(&mut buf, self.config.version, b"4");
                b.header(&header);
                b.push_char(123, b'Y');
                b.push_u64(36, next);
                if let Ok(bytes) = b.finish() {
                    self.tx.extend_from_slice(bytes);
                }
                self.out_seq = saved;
            }
            b"A" => self.logon_answered = true,
            b"5" => {
                if !self.logged_out {
                    self.push_message(b"5", |_| {});
                }
                self.logged_out = true;
            }
            _ => {}
        }
    }

    /// Sends Logout and waits (bounded) for the acceptor's Logout or close.
    fn logout(&mut self) {
        if self.logged_out || self.wire.closed {
            return;
        }
        let deadline = Instant::now() + LOGOUT_TIMEOUT;
        self.send_deadline = deadline;
        self.push_message(b"5", |_| {});
        if self.flush().is_err() || self.stalled {
            return;
        }
        while !self.logged_out && !self.wire.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // Mark first so that the acceptor's Logout is not answered again.
            let before = self.logged_out;
            if self
                .wire
                .receive(left.min(Duration::from_millis(100)))
                .is_err()
            {
                break;
            }
            self.logged_out = before;
            let mut saw_logout = false;
            while let Some(range) = self.wire.next_message() {
                if let Ok(msg) = decode(self.wire.bytes(range)) {
                    saw_logout |= msg.msg_type() == b"5";
                }
            }
            if saw_logout {
                self.logged_out = true;
            }
        }
    }
}
