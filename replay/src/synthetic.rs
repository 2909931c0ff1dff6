//! Writing journals the way the daemon does (CONFIG, COMMAND and DIGEST records), for tests,
//! benchmarks and demonstrations without a running venue; plus a deterministic synthetic
//! order flow.
use std::path::Path;

use arbiter_engine::wire::{
    encode_record, ANNOTATION_BYTES_MAX, COMMAND_BYTES_MAX, RECORD_COMMAND, RECORD_CONFIG,
    RECORD_DIGEST,
};
use arbiter_engine::{
    AccountId, CancelOrder, Command, CommandKind, Engine, InstrumentId, NewOrder, OrdType, OrderId,
    Price, Qty, ReplaceOrder, Seq, SessionId, Side, StrategyId, TimeInForce,
};
use arbiter_journal::{
    Durability, Journal, JournalConfig, JournalId, RecordType, Sequence, TimestampNs, Writer,
};

use crate::error::ReplayError;
use crate::venue::Venue;

/// The identity the daemon stamps on its journals (`src/recovery.rs`).
pub const JOURNAL_IDENTITY: JournalId = JournalId(*b"ARBITER-JOURNAL1");

/// Writes a journal record by record, keeping an engine in step so DIGEST records carry the
/// digest the daemon would have written.
#[derive(Debug)]
pub struct JournalBuilder {
    writer: Writer,
    engine: Option<Engine>,
    events: Vec<arbiter_engine::Event>,
    buffer: Vec<u8>,
}

impl JournalBuilder {
    /// Creates a journal in `dir` with segments of `segment_size_bytes` (a multiple of
    /// 4096, at least 64 KiB).
    ///
    /// # Errors
    /// Journal errors.
    pub fn create(dir: &Path, segment_size_bytes: u64) -> Result<JournalBuilder, ReplayError> {
        let mut config = JournalConfig::new(JOURNAL_IDENTITY);
        config.segment_size_bytes = segment_size_bytes;
        config.durability = Durability::None;
        config.prefault = false;
        let (writer, _) = Journal::open(dir, config)?;
        Ok(JournalBuilder {
            writer,
            engine: None,
            events: Vec::with_capacity(64),
            buffer: vec![0u8; 1 + COMMAND_BYTES_MAX + ANNOTATION_BYTES_MAX],
        })
    }

    /// The sequence the next record gets.
    #[must_use]
    pub fn next_sequence(&self) -> u64 {
        self.writer.next_sequence().0
    }

    /// Appends a CONFIG record; the first one also builds the engine used for digests.
    ///
    /// # Errors
    /// An invalid configuration; journal errors.
    pub fn config(&mut self, timestamp_ns: u64, text: &str) -> Result<u64, ReplayError> {
        let venue = Venue::parse(text)?;
        if self.engine.is_none() {
            self.engine = Some(venue.engine());
        }
        self.append(RECORD_CONFIG, timestamp_ns, text.as_bytes())
    }

    /// Appends a COMMAND record (and applies it to the digest engine).
    ///
    /// # Errors
    /// Journal errors.
    ///
    /// # Panics
    /// If the annotation is longer than the wire format allows.
    pub fn command(
        &mut self,
        timestamp_ns: u64,
        kind: &CommandKind,
        annotation: &[u8],
    ) -> Result<u64, ReplayError> {
        let len = encode_record(kind, annotation, &mut self.buffer);
        let sequence = self.writer.next_sequence();
        self.writer.append(
            RecordType(RECORD_COMMAND),
            sequence,
            TimestampNs(timestamp_ns),
            &self.buffer[..len],
        )?;
        if let Some(engine) = &mut self.engine {
            self.events.clear();
            let command = Command::new(
                Seq(sequence.0),
                arbiter_engine::TimestampNs(timestamp_ns),
                *kind,
            );
            engine.apply(&command, &mut self.events);
        }
        Ok(sequence.0)
    }

    /// Appends a DIGEST record with the engine's digest after every command so far.
    ///
    /// # Errors
    /// Journal errors; [`ReplayError::Config`] when no CONFIG record was written.
    pub fn digest(&mut self, timestamp_ns: u64) -> Result<u64, ReplayError> {
        let digest = self
            .engine
            .as_ref()
            .ok_or_else(|| ReplayError::Config("digest before any CONFIG record".into()))?
            .digest();
        self.digest_value(timestamp_ns, digest)
    }

    /// Appends a DIGEST record with the given value (tests write wrong ones on purpose).
    ///
    /// # Errors
    /// Journal errors.
    pub fn digest_value(&mut self, timestamp_ns: u64, digest: u64) -> Result<u64, ReplayError> {
        self.append(RECORD_DIGEST, timestamp_ns, &digest.to_le_bytes())
    }

    fn append(
        &mut self,
        record_type: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, ReplayError> {
        let sequence: Sequence = self.writer.next_sequence();
        self.writer.append(
            RecordType(record_type),
            sequence,
            TimestampNs(timestamp_ns),
            payload,
        )?;
        Ok(sequence.0)
    }

    /// Seals and closes the journal.
    ///
    /// # Errors
    /// Journal errors.
    pub fn finish(self) -> Result<(), ReplayError> {
        self.writer.close()?;
        Ok(())
    }
}

/// A deterministic stream of realistic commands for the demo configuration's first
/// `instruments` instruments: limit orders around a drifting mid price (about half of them
/// cross), cancels and replaces of earlier orders, some IOC and market orders.
#[derive(Debug, Clone)]
pub struct SyntheticFlow {
    state: u64,
    next_order: u64,
    recent: Vec<(OrderId, AccountId)>,
    /// Per instrument: mid price in ticks, tick size and lot size in units.
    mid_ticks: Vec<i64>,
    ticks: Vec<(i64, u64)>,
    /// Accounts used: ids `1..=accounts`.
    pub accounts: u32,
}

/// Recent order ids kept for cancels and replaces (bounded).
const RECENT_ORDERS_MAX: usize = 4096;

impl SyntheticFlow {
    /// A flow seeded with `seed` over instruments given as (mid price, tick size, lot size),
    /// all in units: prices stay on the tick and quantities on the lot.
    ///
    /// # Panics
    /// If no instrument is given or a tick or lot size is not positive.
    #[must_use]
    pub fn new(seed: u64, instruments: &[(i64, i64, u64)]) -> SyntheticFlow {
        assert!(!instruments.is_empty(), "at least one instrument");
        assert!(instruments
            .iter()
            .all(|&(_, tick, lot)| tick > 0 && lot > 0));
        SyntheticFlow {
            state: seed | 1,
            next_order: 1,
            recent: Vec::with_capacity(RECENT_ORDERS_MAX),
            mid_ticks: instruments
                .iter()
                .map(|&(mid, tick, _)| mid / tick)
                .collect(),
            ticks: instruments
                .iter()
                .map(|&(_, tick, lot)| (tick, lot))
                .collect(),
            accounts: 4,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: deterministic and fast; quality is irrelevant here.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next command and its client order id.
    pub fn next_command(&mut self) -> (CommandKind, String) {
        let roll = self.random() % 100;
        if roll < 25 && !self.recent.is_empty() {
            let index = usize::try_from(self.random() % self.recent.len() as u64).unwrap_or(0);
            let (order_id, account) = self.recent.swap_remove(index);
            return (
                CommandKind::Cancel(CancelOrder {
                    order_id,
                    account,
                    session: SessionId(account.0),
                }),
                format!("X{}", order_id.0),
            );
        }
        let instrument_index = self.random() % self.mid_ticks.len() as u64;
        let instrument = InstrumentId(u32::try_from(instrument_index).unwrap_or(0));
        let index = usize::try_from(instrument_index).unwrap_or(0);
        let drift = i64::try_from(self.random() % 3).unwrap_or(1) - 1;
        self.mid_ticks[index] = (self.mid_ticks[index] + drift).max(100);
        let (tick, lot) = self.ticks[index];
        let mid = self.mid_ticks[index];
        if roll < 32 && !self.recent.is_empty() {
            let at = usize::try_from(self.random() % self.recent.len() as u64).unwrap_or(0);
            let (order_id, account) = self.recent[at];
            let price = (mid + i64::try_from(self.random() % 20).unwrap_or(0) - 10) * tick;
            return (
                CommandKind::Replace(ReplaceOrder {
                    order_id,
                    account,
                    session: SessionId(account.0),
                    price: Price(price),
                    stop_price: Price(0),
                    qty: Qty((10 + self.random() % 90) * lot),
                    client_ref: self.next_order,
                }),
                format!("R{}", self.next_order),
            );
        }
        let side = if self.random() % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let offset = i64::try_from(self.random() % 12).unwrap_or(0) - 3;
        let price = match side {
            Side::Buy => mid - offset,
            Side::Sell => mid + offset,
        } * tick;
        let (ord_type, tif) = match roll {
            32..=36 => (OrdType::Limit, TimeInForce::Ioc),
            37..=38 => (OrdType::Market, TimeInForce::Ioc),
            _ => (OrdType::Limit, TimeInForce::Gtc),
        };
        let account =
            AccountId(1 + u32::try_from(self.random() % u64::from(self.accounts)).unwrap_or(0));
        let order_id = OrderId(self.next_order);
        self.next_order += 1;
        if tif == TimeInForce::Gtc {
            if self.recent.len() == RECENT_ORDERS_MAX {
                self.recent.swap_remove(0);
            }
            self.recent.push((order_id, account));
        }
        (
            CommandKind::NewOrder(NewOrder {
                order_id,
                instrument,
                account,
                strategy: StrategyId(account.0 % 3),
                session: SessionId(account.0),
                side,
                ord_type,
                tif,
                price: if ord_type == OrdType::Market {
                    Price(0)
                } else {
                    Price(price)
                },
                qty: Qty((1 + self.random() % 100) * lot),
                client_ref: order_id.0,
                ..NewOrder::default()
            }),
            format!("C{}", order_id.0),
        )
    }
}

/// Writes a synthetic journal of `commands` commands under `config_text` (one mid price in
/// units per configured instrument, in `mid_prices`), with a DIGEST record every
/// `digest_every` commands and at the end, timestamps `start_ns` + 1 µs per command.
///
/// # Errors
/// Journal and configuration errors.
pub fn write_synthetic(
    dir: &Path,
    config_text: &str,
    mid_prices: Vec<i64>,
    commands: u64,
    digest_every: u64,
    start_ns: u64,
    segment_size_bytes: u64,
) -> Result<(), ReplayError> {
    let mut builder = JournalBuilder::create(dir, segment_size_bytes)?;
    builder.config(start_ns, config_text)?;
    let registry = Venue::parse(config_text)?.config.registry();
    let instruments: Vec<(i64, i64, u64)> = registry
        .iter()
        .zip(mid_prices)
        .map(|(i, mid)| (mid, i.tick_size.0, i.lot_size.0))
        .collect();
    let mut flow = SyntheticFlow::new(0x5eed, &instruments);
    let mut timestamp_ns = start_ns;
    for n in 1..=commands {
        timestamp_ns += 1_000;
        let (kind, clordid) = flow.next_command();
        builder.command(timestamp_ns, &kind, clordid.as_bytes())?;
        if digest_every != 0 && n % digest_every == 0 {
            builder.digest(timestamp_ns)?;
        }
    }
    if digest_every == 0 || commands % digest_every != 0 {
        builder.digest(timestamp_ns)?;
    }
    builder.finish()
}
