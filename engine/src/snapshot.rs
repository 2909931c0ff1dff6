//! Engine snapshots: the whole state as bytes, and an engine rebuilt from them.
//!
//! Everything that comes from configuration (capacities, instruments, the start-up risk
//! configuration) is not trusted from the bytes: the snapshot records it and a restore under
//! a different configuration is refused. Restoring builds a fresh engine from the
//! configuration (so every arena is preallocated exactly as [`Engine::with_risk`] does) and
//! then copies the state in, so the hot path never allocates after a restore.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Book, Engine};
use crate::config::EngineConfig;
use crate::instrument::InstrumentRegistry;
use crate::ladder::{Ladder, LevelPoolImage};
use crate::orders::OrdersImage;
use crate::risk::state::Risk;
use crate::risk::RiskConfig;
use crate::types::{Phase, Price};

/// Format version of [`Engine::snapshot_bytes`].
pub const ENGINE_SNAPSHOT_VERSION: u32 = 1;
const MAGIC: [u8; 8] = *b"ARBENG01";

/// Why a snapshot could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// Not an engine snapshot, or one of another format version.
    Format(String),
    /// Taken under other engine capacities, instruments or start-up risk configuration.
    ConfigMismatch(String),
    /// The bytes decode but the state is inconsistent.
    Corrupt(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Format(m) => write!(f, "not a usable engine snapshot: {m}"),
            SnapshotError::ConfigMismatch(m) => {
                write!(f, "snapshot taken under a different configuration: {m}")
            }
            SnapshotError::Corrupt(m) => write!(f, "engine snapshot is inconsistent: {m}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

#[derive(Serialize, Deserialize)]
struct BookImage {
    sides: [Ladder; 2],
    stops: [Ladder; 2],
    phase: Phase,
    last_price: Option<Price>,
    stops_dirty: bool,
}

/// Serialized with references where the engine's own fields serialize as they are.
#[derive(Serialize)]
struct ImageRef<'a> {
    config: &'a EngineConfig,
    instruments: &'a InstrumentRegistry,
    risk_config: &'a [u8],
    books: &'a [Book],
    levels: LevelPoolImage,
    orders: OrdersImage,
    expiries: &'a [Reverse<(u64, u64, u32)>],
    any_stops_dirty: bool,
    trades_total: u64,
    risk: &'a Risk,
    digest: u64,
}

#[derive(Deserialize)]
struct Image {
    config: EngineConfig,
    instruments: InstrumentRegistry,
    risk_config: Vec<u8>,
    books: Vec<BookImage>,
    levels: LevelPoolImage,
    orders: OrdersImage,
    expiries: Vec<Reverse<(u64, u64, u32)>>,
    any_stops_dirty: bool,
    trades_total: u64,
    risk: Risk,
    digest: u64,
}

fn codec() -> bincode::DefaultOptions {
    bincode::DefaultOptions::new()
}

fn risk_config_bytes(risk: &RiskConfig) -> Vec<u8> {
    use bincode::Options;
    codec()
        .serialize(risk)
        .expect("risk configuration serializes")
}

/// Gives `v` the capacity of `like` (the same table in a freshly built engine), so that a
/// restored table never reallocates; refuses contents that do not fit it.
#[allow(clippy::ptr_arg)]
pub(crate) fn refit<T: Clone>(v: &mut Vec<T>, like: &Vec<T>, what: &str) -> Result<(), String> {
    let capacity = like.capacity();
    if v.len() > capacity {
        return Err(format!("{what}: {} entries, capacity {capacity}", v.len()));
    }
    if v.capacity() != capacity {
        let mut fitted = Vec::with_capacity(capacity);
        fitted.extend_from_slice(v);
        *v = fitted;
    }
    Ok(())
}

impl Engine {
    /// The whole state as bytes (see [`Engine::from_snapshot`]). Allocates; meant for a
    /// replica engine off the hot path.
    #[must_use]
    pub fn snapshot_bytes(&self) -> Vec<u8> {
        use bincode::Options;
        let risk_config = risk_config_bytes(&self.risk_config);
        let image = ImageRef {
            config: &self.config,
            instruments: &self.instruments,
            risk_config: &risk_config,
            books: &self.books,
            levels: self.levels.image(),
            orders: self
                .orders
                .image(self.expiries.iter().map(|Reverse((_, _, slot))| *slot)),
            expiries: self.expiries.as_slice(),
            any_stops_dirty: self.any_stops_dirty,
            trades_total: self.trades_total,
            risk: &self.risk,
            digest: self.digest(),
        };
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&ENGINE_SNAPSHOT_VERSION.to_le_bytes());
        codec()
            .serialize_into(&mut bytes, &image)
            .expect("engine state serializes");
        bytes
    }

    /// Rebuilds an engine from [`Engine::snapshot_bytes`]. The configuration must be the one
    /// the snapshot was taken under (capacities, instruments and start-up risk configuration);
    /// every arena gets its configured capacity back, so applying commands afterwards does not
    /// allocate.
    ///
    /// # Errors
    /// [`SnapshotError::Format`] for bytes that are not a snapshot of this version,
    /// [`SnapshotError::ConfigMismatch`] for one taken under another configuration,
    /// [`SnapshotError::Corrupt`] when the state does not fit or its digest differs.
    pub fn from_snapshot(
        config: EngineConfig,
        instruments: InstrumentRegistry,
        risk: &RiskConfig,
        bytes: &[u8],
    ) -> Result<Engine, SnapshotError> {
        use bincode::Options;
        if bytes.len() < 12 || bytes[..8] != MAGIC {
            return Err(SnapshotError::Format("bad magic".to_owned()));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != ENGINE_SNAPSHOT_VERSION {
            return Err(SnapshotError::Format(format!(
                "version {version}, this build reads {ENGINE_SNAPSHOT_VERSION}"
            )));
        }
        let image: Image = codec()
            .with_limit(bytes.len() as u64 * 64)
            .deserialize(&bytes[12..])
            .map_err(|e| SnapshotError::Format(e.to_string()))?;
        if image.config != config {
            return Err(SnapshotError::ConfigMismatch(format!(
                "engine capacities {:?} in the snapshot, {config:?} configured",
                image.config
            )));
        }
        if image.instruments != instruments {
            return Err(SnapshotError::ConfigMismatch(
                "the instrument registry differs".to_owned(),
            ));
        }
        if image.risk_config != risk_config_bytes(risk) {
            return Err(SnapshotError::ConfigMismatch(
                "the start-up risk configuration differs".to_owned(),
            ));
        }
        let corrupt = SnapshotError::Corrupt;
        let mut engine = Engine::with_risk(config, instruments, risk);
        if image.books.len() != engine.books.len() {
            return Err(corrupt("book count differs".to_owned()));
        }
        engine.levels.restore(&image.levels).map_err(corrupt)?;
        engine.orders.restore(image.orders).map_err(corrupt)?;
        for (book, saved) in engine.books.iter_mut().zip(&image.books) {
            for (ladder, saved) in book
                .sides
                .iter_mut()
                .chain(book.stops.iter_mut())
                .zip(saved.sides.iter().chain(saved.stops.iter()))
            {
                ladder.restore(saved, config.orders_max).map_err(corrupt)?;
            }
            book.phase = saved.phase;
            book.last_price = saved.last_price;
            book.stops_dirty = saved.stops_dirty;
        }
        let heap_capacity = engine.expiries.capacity();
        if image.expiries.len() > heap_capacity {
            return Err(corrupt("expiry heap larger than its capacity".to_owned()));
        }
        let mut expiries = std::mem::take(&mut engine.expiries).into_vec();
        expiries.clear();
        expiries.extend_from_slice(&image.expiries);
        engine.expiries = BinaryHeap::from(expiries);
        engine.any_stops_dirty = image.any_stops_dirty;
        engine.trades_total = image.trades_total;
        let mut risk_state = image.risk;
        risk_state.refit(&engine.risk).map_err(corrupt)?;
        engine.risk = risk_state;
        let digest = engine.digest();
        if digest != image.digest {
            return Err(corrupt(format!(
                "restored digest {digest:016x} differs from the snapshot's {:016x}",
                image.digest
            )));
        }
        Ok(engine)
    }
}
