//! The deterministic matching and pre-trade risk engine of Arbiter.
//!
//! A pure state machine: [`Engine::apply`] takes a stamped [`Command`] and emits [`Event`]s
//! into an [`EventSink`]. No I/O, no threads, no clock, and no allocation after
//! [`Engine::new`]: every arena is sized from [`EngineConfig`] and a full book rejects with
//! [`RejectReason::BookFull`]. The rules are specified in `docs/matching-rules.md`.
//!
//! # Example
//! ```
//! use arbiter_engine::*;
//!
//! let registry = InstrumentRegistry::new(vec![Instrument::simple(0, "DEMO")]).unwrap();
//! let mut engine = Engine::new(EngineConfig::default(), registry);
//! let order = |id, side, price| Command::new(Seq(id), TimestampNs(id), CommandKind::NewOrder(NewOrder {
//!     order_id: OrderId(id), side, price: Price(price), qty: Qty(10), tif: TimeInForce::Gtc,
//!     ..NewOrder::default()
//! }));
//! let mut events = Vec::new();
//! engine.apply(&order(1, Side::Sell, 100), &mut events);
//! engine.apply(&order(2, Side::Buy, 101), &mut events);
//! assert!(events.iter().any(|e| matches!(e, Event::Trade(t) if t.price == Price(100))));
//! ```
#![deny(missing_docs, unsafe_code)]

mod command;
mod config;
mod digest;
mod engine;
mod event;
mod id_index;
mod instrument;
mod ladder;
mod orders;
mod reason;
pub mod risk;
mod types;
pub mod wire;

pub use command::{CancelOrder, Command, CommandKind, MassCancel, NewOrder, ReplaceOrder};
pub use config::EngineConfig;
pub use engine::snapshot::{SnapshotError, ENGINE_SNAPSHOT_VERSION};
pub use engine::Engine;
pub use event::{Event, EventSink, RejectedKind, Trade};
pub use id_index::IdIndex;
pub use instrument::{Instrument, InstrumentRegistry};
pub use orders::OrderView;
pub use reason::{CancelReason, RejectReason};
pub use risk::{
    ApprovalAction, ApprovalRefusal, AutoKill, KillReason, KillScope, KillStatus, KillTrigger,
    LimitKind, LimitSetting, Operator, OperatorId, OperatorRole, PendingApproval, RiskCheck,
    RiskCommand, RiskConfig, RiskEvent, RiskScope, TradingHours, Utilisation, NO_LIMIT,
};
pub use types::{
    AccountId, FirmId, InstrumentId, OrdType, OrderId, Phase, Price, Qty, Seq, SessionId, Side,
    StpGroup, StpMode, StrategyId, TimeInForce, TimestampNs,
};
