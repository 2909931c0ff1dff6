//! Arbiter's configuration: TOML, parsed with serde, checked with errors that name the key.
//!
//! The daemon reads it at start-up and journals its text, so that the replay tool rebuilds
//! the same engine from the journal alone.
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use arbiter_engine::{
    AccountId, AutoKill, EngineConfig, FirmId, Instrument, InstrumentId, InstrumentRegistry,
    LimitKind, LimitSetting, Operator, OperatorId, OperatorRole, Phase, Price, Qty, RiskConfig,
    RiskScope, SessionId, StrategyId,
};
use serde::Deserialize;

mod market_data;
pub use market_data::{MarketDataSection, WINDOW_MESSAGES_MAX};
mod cluster;
mod shards;
pub use cluster::{
    ClusterDurability, ClusterRole, ClusterSection, ClusterTlsSection, ReplicationLoss,
};
pub use shards::{AllowanceConfig, ShardConfig};

/// The configuration `arbiter run` uses when no file is given.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Venue identity and data directory.
    pub venue: VenueConfig,
    /// Engine capacities.
    #[serde(default)]
    pub engine: EngineSection,
    /// Tradable instruments.
    pub instruments: Vec<InstrumentConfig>,
    /// Firms.
    #[serde(default)]
    pub firms: Vec<FirmConfig>,
    /// Accounts (FIX Account values).
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// The FIX acceptor and its sessions.
    pub fix: FixConfig,
    /// Journal location and durability.
    pub journal: JournalSection,
    /// Threads: cores and idle strategies.
    #[serde(default)]
    pub agents: AgentsConfig,
    /// The admin socket.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Pre-trade risk.
    #[serde(default)]
    pub risk: RiskSection,
    /// Latency histograms and metrics.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// State snapshots (restart = newest valid snapshot + replay of later records).
    #[serde(default)]
    pub snapshot: SnapshotSection,
    /// The market-data feed; absent: none.
    #[serde(default)]
    pub market_data: Option<MarketDataSection>,
    /// Journal replication and failover (absent: a single node).
    #[serde(default)]
    pub cluster: Option<ClusterSection>,
    /// The instruments split into named shards (`cluster.shard` says which one this node
    /// is); empty: this node's shard trades every instrument.
    #[serde(default)]
    pub shards: Vec<ShardConfig>,
}

/// State snapshots taken by a thread that follows the journal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSection {
    /// Snapshot directory, relative to the data directory.
    #[serde(default = "default_snapshot_dir")]
    pub dir: PathBuf,
    /// Take a snapshot every this many journaled commands; 0 disables snapshots.
    #[serde(default = "default_snapshot_interval")]
    pub interval_records: u64,
}

impl Default for SnapshotSection {
    fn default() -> Self {
        SnapshotSection {
            dir: default_snapshot_dir(),
            interval_records: default_snapshot_interval(),
        }
    }
}

fn default_snapshot_dir() -> PathBuf {
    PathBuf::from("snapshots")
}
fn default_snapshot_interval() -> u64 {
    1_000_000
}

/// Latency histograms, interval logs, percentile dumps and the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `.hlog` interval logs, relative to the data directory.
    #[serde(default = "default_hlog_dir")]
    pub hlog_dir: PathBuf,
    /// Percentile dumps (`.hgrm`), relative to the data directory.
    #[serde(default = "default_dump_dir")]
    pub dump_dir: PathBuf,
    /// One interval histogram per stage this often.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Start a new `.hlog` file past this size.
    #[serde(default = "default_rotate_bytes")]
    pub hlog_rotate_bytes: u64,
    /// `/metrics` address (Prometheus text format); none: no endpoint. Anything but
    /// loopback needs `tls` or `allow_plaintext = true`.
    #[serde(default)]
    pub listen: Option<String>,
    /// TLS 1.3 on `/metrics` (same settings as `[fix.tls]`; `client_ca` makes scrapers
    /// present a certificate).
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// Serve plaintext `/metrics` on a non-loopback address. Off: such an endpoint is
    /// refused.
    #[serde(default)]
    pub allow_plaintext: bool,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            hlog_dir: default_hlog_dir(),
            dump_dir: default_dump_dir(),
            interval_ms: default_interval_ms(),
            hlog_rotate_bytes: default_rotate_bytes(),
            listen: None,
            tls: None,
            allow_plaintext: false,
        }
    }
}

fn default_hlog_dir() -> PathBuf {
    PathBuf::from("hlog")
}
fn default_dump_dir() -> PathBuf {
    PathBuf::from("hgrm")
}
fn default_interval_ms() -> u64 {
    1000
}
fn default_rotate_bytes() -> u64 {
    64 << 20
}

/// Pre-trade risk: limits in force at start-up and the kill switch's rules. Limits change at
/// run time through admin commands (journaled).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSection {
    /// Distinct risk managers needed to release a kill switch or approve a bypass.
    #[serde(default = "default_approvals")]
    pub approvals_required: u32,
    /// How long a release request waits for its approvals.
    #[serde(default = "default_approval_window")]
    pub approval_window_s: u64,
    /// The sliding window of the rate limits.
    #[serde(default = "default_velocity_window")]
    pub velocity_window_ms: u64,
    /// Events remembered per account and session for rate limits (a rate limit must be below).
    #[serde(default = "default_velocity_events")]
    pub velocity_events_max: u32,
    /// ClOrdID hashes remembered per session per day (0 disables the duplicate check).
    #[serde(default = "default_client_refs")]
    pub client_refs_per_session_max: u32,
    /// Which breaches also fire the kill switch of their scope.
    #[serde(default)]
    pub auto_kill: AutoKillConfig,
    /// Limits at start-up.
    #[serde(default)]
    pub limits: Vec<LimitConfig>,
    /// Instruments an account may not trade.
    #[serde(default)]
    pub restricted: Vec<RestrictedConfig>,
}

impl Default for RiskSection {
    fn default() -> Self {
        RiskSection {
            approvals_required: default_approvals(),
            approval_window_s: default_approval_window(),
            velocity_window_ms: default_velocity_window(),
            velocity_events_max: default_velocity_events(),
            client_refs_per_session_max: default_client_refs(),
            auto_kill: AutoKillConfig::default(),
            limits: Vec::new(),
            restricted: Vec::new(),
        }
    }
}

fn default_approvals() -> u32 {
    2
}
fn default_approval_window() -> u64 {
    300
}
fn default_velocity_window() -> u64 {
    1000
}
fn default_velocity_events() -> u32 {
    1024
}
fn default_client_refs() -> u32 {
    1 << 16
}

/// Automatic kill rules.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoKillConfig {
    /// A daily loss breach kills the strategy or account.
    #[serde(default)]
    pub daily_loss: bool,
    /// A rate breach kills the account or session.
    #[serde(default)]
    pub velocity: bool,
    /// A position beyond its limit after a fill kills the strategy or account.
    #[serde(default)]
    pub position: bool,
}

/// One limit. Values are in engine units: quantities in quantity units, prices and notionals
/// in price units (price × 10^price_decimals).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// "global", "firm:<id>", "account:<name>", "strategy:<id>" or "session:<TargetCompID>".
    pub scope: String,
    /// Only this instrument (symbol), if set.
    #[serde(default)]
    pub instrument: Option<String>,
    /// max-order-qty, max-order-notional, price-deviation-bps, price-deviation-ticks,
    /// long-position, short-position, open-notional, daily-loss, orders-per-window,
    /// messages-per-window.
    pub kind: String,
    /// The bound.
    pub value: u64,
}

/// An account barred from an instrument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictedConfig {
    /// Account name.
    pub account: String,
    /// Symbol.
    pub instrument: String,
}

/// Parses a limit kind name.
#[must_use]
pub fn limit_kind(name: &str) -> Option<LimitKind> {
    Some(match name {
        "max-order-qty" => LimitKind::MaxOrderQty,
        "max-order-notional" => LimitKind::MaxOrderNotional,
        "price-deviation-bps" => LimitKind::PriceDeviationBps,
        "price-deviation-ticks" => LimitKind::PriceDeviationTicks,
        "long-position" => LimitKind::LongPosition,
        "short-position" => LimitKind::ShortPosition,
        "open-notional" => LimitKind::OpenNotional,
        "daily-loss" => LimitKind::DailyLoss,
        "orders-per-window" => LimitKind::OrdersPerWindow,
        "messages-per-window" => LimitKind::MessagesPerWindow,
        _ => return None,
    })
}

/// Venue identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Shown in logs and status.
    pub name: String,
    /// Where the journal, stores and sockets live (relative paths are relative to the
    /// working directory).
    pub data_dir: PathBuf,
    /// End of the trading day, "HH:MM" UTC: the sequencer journals an EndOfDay command
    /// (DAY orders expire, daily counters reset) when it passes. None: only by command.
    #[serde(default)]
    pub end_of_day: Option<String>,
}

/// Engine capacities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Live orders across all instruments.
    pub orders_max: u32,
    /// Price levels per side per instrument.
    pub levels_per_side_max: u32,
    /// Account ids must be below this.
    pub accounts_max: u32,
}

impl Default for EngineSection {
    fn default() -> Self {
        let defaults = EngineConfig::default();
        EngineSection {
            orders_max: defaults.orders_max,
            levels_per_side_max: defaults.levels_per_side_max,
            accounts_max: defaults.accounts_max,
        }
    }
}

/// One instrument, prices as decimal strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Symbol (FIX Symbol (55)).
    pub symbol: String,
    /// Decimals of one price unit: price units = price × 10^decimals.
    pub price_decimals: u32,
    /// Tick size, e.g. "0.01".
    pub tick_size: String,
    /// Lot size in quantity units.
    pub lot_size: u64,
    /// Minimum order quantity.
    pub qty_min: u64,
    /// Maximum order quantity.
    pub qty_max: u64,
    /// Lowest acceptable price.
    pub price_min: String,
    /// Highest acceptable price.
    pub price_max: String,
    /// Market order collar in ticks (0: none).
    #[serde(default)]
    pub market_collar_ticks: u32,
    /// Trading hours in UTC, "HH:MM".
    #[serde(default)]
    pub trading_hours: Option<TradingHours>,
    /// ISO 4217 currency, shown in the FIX SecurityList (15).
    #[serde(default)]
    pub currency: Option<String>,
    /// ISIN, shown in the FIX SecurityList as SecurityID (48) with 22=4.
    #[serde(default)]
    pub isin: Option<String>,
}

/// Whether `text` is an ISIN: 2 letters, 9 letters or digits, a check digit (Luhn over the
/// letters expanded to numbers, as ISO 6166 defines it).
#[must_use]
pub fn is_isin(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 12
        || !bytes[..2].iter().all(u8::is_ascii_uppercase)
        || !bytes[2..11]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || !bytes[11].is_ascii_digit()
    {
        return false;
    }
    let mut digits = Vec::with_capacity(24);
    for &b in bytes {
        if b.is_ascii_digit() {
            digits.push(u32::from(b - b'0'));
        } else {
            let value = u32::from(b - b'A') + 10;
            digits.push(value / 10);
            digits.push(value % 10);
        }
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Daily trading hours, UTC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingHours {
    /// Opening time, "HH:MM".
    pub open: String,
    /// Closing time, "HH:MM" ("24:00" for midnight).
    pub close: String,
}

/// A firm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmConfig {
    /// Firm id.
    pub id: u32,
    /// Name.
    pub name: String,
}

/// An account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Dense account id (below `engine.accounts_max`).
    pub id: u32,
    /// The FIX Account (1) value.
    pub name: String,
    /// Owning firm id.
    pub firm: u32,
}

/// The FIX acceptor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixConfig {
    /// Listen address, e.g. "127.0.0.1:9898". Anything but loopback needs `[fix.tls]` or
    /// `allow_plaintext = true`.
    pub listen: String,
    /// Accept plaintext FIX on a non-loopback address (a venue behind its own TLS
    /// terminator or on a private line). Off: such a listener is refused.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// TLS 1.3 on the listener.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// New connections per source address per second (0: no limit).
    #[serde(default = "default_connections_per_source")]
    pub max_connections_per_source_per_second: u32,
    /// Failed logons per source address (and per CompID) before a backoff (0: never).
    #[serde(default = "default_logon_failures")]
    pub logon_failures_before_backoff: u32,
    /// First backoff after too many failed logons; doubles with each further failure.
    #[serde(default = "default_logon_backoff_base_ms")]
    pub logon_backoff_base_ms: u64,
    /// Longest backoff.
    #[serde(default = "default_logon_backoff_max_ms")]
    pub logon_backoff_max_ms: u64,
    /// Connection limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Largest accepted message.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Time a connection has to log on.
    #[serde(default = "default_logon_timeout_ms")]
    pub logon_timeout_ms: u64,
    /// SendingTime accuracy.
    #[serde(default = "default_sending_time_accuracy_ms")]
    pub sending_time_accuracy_ms: u64,
    /// Sessions.
    pub sessions: Vec<SessionConfig>,
}

fn default_max_connections() -> usize {
    64
}
fn default_connections_per_source() -> u32 {
    20
}
fn default_logon_failures() -> u32 {
    5
}
fn default_logon_backoff_base_ms() -> u64 {
    1000
}
fn default_logon_backoff_max_ms() -> u64 {
    300_000
}

/// Certificate and key of a TLS listener, the FIX acceptor or `/metrics` (PEM files; relative paths are relative to the
/// working directory, like `venue.data_dir`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Server certificate chain, leaf first.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// CA certificates for client certificates: set, every client must present one
    /// (mutual TLS), and sessions may require a subject with `cert_subject`.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}
fn default_max_message_bytes() -> usize {
    8192
}
fn default_logon_timeout_ms() -> u64 {
    10_000
}
fn default_sending_time_accuracy_ms() -> u64 {
    120_000
}

/// One FIX session, in the terms a QuickFIX user knows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// "FIX.4.4" or "FIXT.1.1".
    pub begin_string: String,
    /// Our CompID.
    pub sender_comp_id: String,
    /// The client's CompID.
    pub target_comp_id: String,
    /// Expected HeartBtInt (the initiator's value is used).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_s: u32,
    /// ResetOnLogon.
    #[serde(default)]
    pub reset_on_logon: bool,
    /// Recognised only to be refused: a configuration never holds a clear-text password.
    #[serde(default)]
    pub password: Option<String>,
    /// Argon2id PHC hash that Password (554) must match, from `arbiter config
    /// hash-password`; none: no password.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Source addresses allowed to log on, CIDR ("10.0.0.0/8", "2001:db8::/32", or one
    /// address); empty: any.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// Subject CN the client's TLS certificate must have (needs `fix.tls.client_ca`).
    #[serde(default)]
    pub cert_subject: Option<String>,
    /// Cancel the session's orders when it disconnects.
    #[serde(default)]
    pub cancel_on_disconnect: bool,
    /// A drop-copy session: receives copies, may send only session messages.
    #[serde(default)]
    pub drop_copy: bool,
    /// Account used when a message has no Account (1).
    pub default_account: String,
    /// The accounts (by name) this session may act for, all of its firm's (the firm of
    /// `default_account`); empty: every account of that firm. Orders, cancels, replaces,
    /// status, mass cancel and position requests for any other account are refused with
    /// "not entitled"; a drop-copy session receives copies for these accounts only.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// FIX market data (V, x, e, g) allowed on this session (needs `[market_data]`).
    #[serde(default = "default_session_market_data")]
    pub market_data: bool,
    /// Most market-data subscriptions the session may hold at once.
    #[serde(default = "default_session_subscriptions")]
    pub market_data_subscriptions_max: usize,
}

fn default_session_market_data() -> bool {
    true
}
fn default_session_subscriptions() -> usize {
    32
}

fn default_heartbeat() -> u32 {
    30
}

/// Durability policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// The OS writes back; acks are not held.
    None,
    /// The flusher syncs every interval; acks are not held.
    Batch,
    /// Acks are held until the command is durable.
    Sync,
}

/// Journal section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Directory, relative to the data directory.
    pub dir: PathBuf,
    /// Segment file size.
    pub segment_bytes: u64,
    /// Durability policy.
    pub durability: Durability,
    /// Flush interval for `batch`.
    #[serde(default = "default_batch_interval")]
    pub batch_interval_us: u64,
    /// Ed25519 secret key file (64 hex digits, mode 0600 or 0400; relative paths are
    /// relative to the data directory) that signs every seal of the journal and of the
    /// access trail. Absent: no signed checkpoints. Create one with
    /// `arbiter-replay keygen FILE`. See docs/security.md, "Signed checkpoints".
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// With `signing_key`: also append every journal checkpoint to this file, ideally on
    /// another mount (`arbiter-replay verify --anchor FILE` compares it).
    #[serde(default)]
    pub anchor: Option<PathBuf>,
    /// How often the background verifier re-checks the journal and the access trail
    /// (CRC, chain, signatures), in milliseconds; 0: never.
    #[serde(default = "default_verify_interval")]
    pub verify_interval_ms: u64,
    /// Directory of the access trail, relative to the data directory.
    #[serde(default = "default_access_dir")]
    pub access_dir: PathBuf,
}

fn default_verify_interval() -> u64 {
    60_000
}

fn default_access_dir() -> PathBuf {
    PathBuf::from("access")
}

fn default_batch_interval() -> u64 {
    200
}

/// One agent's placement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Core to pin to; none: unpinned.
    #[serde(default)]
    pub core: Option<usize>,
    /// "busy-spin", "yield", "backoff" or "sleep".
    #[serde(default = "default_idle")]
    pub idle: String,
}

fn default_idle() -> String {
    "backoff".to_owned()
}

impl Default for AgentConfig {
    // An agent a configuration leaves out (an older file without `market_data`, say) idles
    // the safe way, like one written without `idle`.
    fn default() -> Self {
        AgentConfig {
            core: None,
            idle: default_idle(),
        }
    }
}

/// All agents.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentsConfig {
    /// FIX I/O.
    #[serde(default)]
    pub gateway: AgentConfig,
    /// The one writer of engine state.
    #[serde(default)]
    pub sequencer: AgentConfig,
    /// Journal durability.
    #[serde(default)]
    pub flusher: AgentConfig,
    /// Market data (follows the journal; publishes the feed and FIX market data).
    #[serde(default)]
    pub market_data: AgentConfig,
}

/// The admin socket and who may use it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Unix socket path, relative to the data directory.
    pub socket: PathBuf,
    /// Operators and their roles.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            socket: PathBuf::from("admin.sock"),
            operators: Vec::new(),
        }
    }
}

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Kill switches, limits, reference prices, halts; approves releases (two needed).
    RiskManager,
    /// SRE: status, halts, sessions, snapshots, shutdown.
    Operator,
    /// Read-only: status, dumps, positions and orders of every account.
    Auditor,
    /// Reads its own firm's positions and orders (or those of its listed accounts), nothing
    /// else.
    Trader,
}

/// One operator of the admin socket. The secret is never stored: only its argon2id hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Operator id, journaled with every action it takes.
    pub id: u32,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Argon2id PHC hash of the secret, from `arbiter config hash-password` (required).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Recognised only to be refused: the old salted SHA-256 scheme.
    #[serde(default)]
    pub salt: Option<String>,
    /// Recognised only to be refused: the old salted SHA-256 scheme.
    #[serde(default)]
    pub credential_sha256: Option<String>,
    /// Role `trader` only (required there): the firm whose positions and orders it reads.
    #[serde(default)]
    pub firm: Option<u32>,
    /// Role `trader` only: the accounts of its firm it reads (by name); empty: all of them.
    #[serde(default)]
    pub accounts: Vec<String>,
}

impl OperatorConfig {
    /// Whether `secret` is this operator's (argon2id, constant-time comparison).
    #[must_use]
    pub fn verify(&self, secret: &str) -> bool {
        self.password_hash
            .as_deref()
            .is_some_and(|phc| arbiter_access::credential::verify_password(phc, secret.as_bytes()))
    }
}

const HASH_PASSWORD_HINT: &str = "store `password_hash` from `arbiter config hash-password`";

const IDLE_NAMES: [&str; 4] = ["busy-spin", "yield", "backoff", "sleep"];

impl Config {
    /// Parses and checks a configuration.
    ///
    /// # Errors
    /// Every problem found, one per line, each naming its key path.
    pub fn parse(text: &str) -> Result<Config, Vec<String>> {
        let config: Config = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Reads, parses and checks a file.
    ///
    /// # Errors
    /// As [`Config::parse`], or the read error.
    pub fn load(path: &Path) -> Result<Config, Vec<String>> {
        let text =
            std::fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
        Config::parse(&text)
    }

    /// The embedded demo configuration.
    ///
    /// # Panics
    /// Never: a test proves the embedded file is valid.
    #[must_use]
    pub fn default_demo() -> Config {
        Config::parse(DEFAULT_CONFIG).expect("embedded default configuration is valid")
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(cluster) = &self.cluster {
            out.extend(cluster.problems());
        }
        out.extend(self.shard_problems());
        if let Some(text) = &self.venue.end_of_day {
            if parse_hhmm(text).is_none_or(|minutes| minutes >= 24 * 60) {
                out.push(format!(
                    "venue.end_of_day: {text:?} is not a time like \"22:00\""
                ));
            }
        }
        if self.engine.orders_max == 0 {
            out.push("engine.orders_max: must be at least 1".to_owned());
        }
        if self.engine.levels_per_side_max == 0 {
            out.push("engine.levels_per_side_max: must be at least 1".to_owned());
        }
        if self.instruments.is_empty() {
            out.push("instruments: at least one instrument is needed".to_owned());
        }
        for (i, instrument) in self.instruments.iter().enumerate() {
            if let Err(problem) = instrument_from_config(i, instrument) {
                out.push(problem);
            }
            if let Some(currency) = &instrument.currency {
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    out.push(format!(
                        "instruments[{i}].currency: {currency:?} is not an ISO 4217 code like \"USD\""
                    ));
                }
            }
            if let Some(isin) = &instrument.isin {
                if !is_isin(isin) {
                    out.push(format!(
                        "instruments[{i}].isin: {isin:?} is not an ISIN (12 characters with a valid \
                         check digit)"
                    ));
                }
            }
            if self.instruments[..i]
                .iter()
                .any(|other| other.symbol == instrument.symbol)
            {
                out.push(format!(
                    "instruments[{i}].symbol: duplicate symbol {:?}",
                    instrument.symbol
                ));
            }
        }
        for (i, account) in self.accounts.iter().enumerate() {
            if account.id >= self.engine.accounts_max {
                out.push(format!(
                    "accounts[{i}].id: {} must be below engine.accounts_max ({})",
                    account.id, self.engine.accounts_max
                ));
            }
            if !self.firms.iter().any(|f| f.id == account.firm) {
                out.push(format!(
                    "accounts[{i}].firm: no firm with id {}",
                    account.firm
                ));
            }
            if self.accounts[..i]
                .iter()
                .any(|a| a.id == account.id || a.name == account.name)
            {
                out.push(format!("accounts[{i}]: duplicate id or name"));
            }
        }
        match self.fix.listen.parse::<SocketAddr>() {
            Err(_) => out.push(format!(
                "fix.listen: {:?} is not an address like \"127.0.0.1:9898\"",
                self.fix.listen
            )),
            Ok(address)
                if !address.ip().is_loopback()
                    && self.fix.tls.is_none()
                    && !self.fix.allow_plaintext =>
            {
                out.push(format!(
                    "fix.listen: {address} is not a loopback address and has no TLS: configure \
                     [fix.tls] (cert, key) or set fix.allow_plaintext = true"
                ));
            }
            Ok(_) => {}
        }
        if self.fix.logon_backoff_base_ms > self.fix.logon_backoff_max_ms {
            out.push(
                "fix.logon_backoff_base_ms: must not exceed fix.logon_backoff_max_ms".to_owned(),
            );
        }
        for (i, session) in self.fix.sessions.iter().enumerate() {
            let path = format!("fix.sessions[{i}]");
            if !matches!(session.begin_string.as_str(), "FIX.4.4" | "FIXT.1.1") {
                out.push(format!(
                    "{path}.begin_string: {:?} is not supported (FIX.4.4 or FIXT.1.1)",
                    session.begin_string
                ));
            }
            if session.sender_comp_id.is_empty() || session.target_comp_id.is_empty() {
                out.push(format!(
                    "{path}: sender_comp_id and target_comp_id must be set"
                ));
            }
            if session.heartbeat_interval_s == 0 {
                out.push(format!("{path}.heartbeat_interval_s: must be at least 1"));
            }
            if session.password.is_some() {
                out.push(format!(
                    "{path}.password: clear-text passwords are refused; {HASH_PASSWORD_HINT}"
                ));
            }
            if let Some(phc) = &session.password_hash {
                if let Err(problem) = arbiter_access::credential::check_password_hash(phc) {
                    out.push(format!("{path}.password_hash: {problem}"));
                }
            }
            for (j, source) in session.allowed_sources.iter().enumerate() {
                if let Err(problem) = source.parse::<arbiter_access::Cidr>() {
                    out.push(format!("{path}.allowed_sources[{j}]: {problem}"));
                }
            }
            if session.cert_subject.is_some()
                && self.fix.tls.as_ref().is_none_or(|t| t.client_ca.is_none())
            {
                out.push(format!(
                    "{path}.cert_subject: needs fix.tls.client_ca (mutual TLS)"
                ));
            }
            if !self
                .accounts
                .iter()
                .any(|a| a.name == session.default_account)
            {
                out.push(format!(
                    "{path}.default_account: no account named {:?}",
                    session.default_account
                ));
            }
            out.extend(self.entitlement_problems(&path, session));
            if self.fix.sessions[..i].iter().any(|s| {
                s.sender_comp_id == session.sender_comp_id
                    && s.target_comp_id == session.target_comp_id
            }) {
                out.push(format!("{path}: duplicate SenderCompID/TargetCompID pair"));
            }
        }
        if let Some(listen) = &self.metrics.listen {
            match listen.parse::<SocketAddr>() {
                Err(_) => out.push(format!(
                    "metrics.listen: {listen:?} is not an address like \"127.0.0.1:9899\""
                )),
                Ok(address)
                    if !address.ip().is_loopback()
                        && self.metrics.tls.is_none()
                        && !self.metrics.allow_plaintext =>
                {
                    out.push(format!(
                        "metrics.listen: {address} is not a loopback address and has no TLS: \
                         configure [metrics.tls] (cert, key) or set metrics.allow_plaintext = true"
                    ));
                }
                Ok(_) => {}
            }
        } else if self.metrics.tls.is_some() {
            out.push("metrics.tls: needs metrics.listen".to_owned());
        }
        if self.metrics.interval_ms == 0 {
            out.push("metrics.interval_ms: must be at least 1".to_owned());
        }
        if self.journal.anchor.is_some() && self.journal.signing_key.is_none() {
            out.push("journal.anchor: needs journal.signing_key".to_owned());
        }
        if self.journal.segment_bytes < 1 << 16 {
            out.push("journal.segment_bytes: must be at least 65536".to_owned());
        }
        for (i, operator) in self.admin.operators.iter().enumerate() {
            let path = format!("admin.operators[{i}]");
            for (key, value) in [
                ("salt", &operator.salt),
                ("credential_sha256", &operator.credential_sha256),
            ] {
                if value.is_some() {
                    out.push(format!(
                        "{path}.{key}: salted SHA-256 credentials are refused; {HASH_PASSWORD_HINT}"
                    ));
                }
            }
            match &operator.password_hash {
                None => out.push(format!(
                    "{path}.password_hash: required; {HASH_PASSWORD_HINT}"
                )),
                Some(phc) => {
                    if let Err(problem) = arbiter_access::credential::check_password_hash(phc) {
                        out.push(format!("{path}.password_hash: {problem}"));
                    }
                }
            }
            out.extend(self.operator_scope_problems(&path, operator));
            if self.admin.operators[..i]
                .iter()
                .any(|o| o.id == operator.id || o.name == operator.name)
            {
                out.push(format!("{path}: duplicate operator id or name"));
            }
        }
        for (i, limit) in self.risk.limits.iter().enumerate() {
            let path = format!("risk.limits[{i}]");
            if let Err(problem) = self.risk_scope(&limit.scope) {
                out.push(format!("{path}.scope: {problem}"));
            }
            if limit_kind(&limit.kind).is_none() {
                out.push(format!("{path}.kind: {:?} is not a limit kind", limit.kind));
            }
            if let Some(symbol) = &limit.instrument {
                if !self.instruments.iter().any(|i| &i.symbol == symbol) {
                    out.push(format!("{path}.instrument: no instrument {symbol:?}"));
                }
            }
        }
        for (i, restricted) in self.risk.restricted.iter().enumerate() {
            if !self.accounts.iter().any(|a| a.name == restricted.account) {
                out.push(format!(
                    "risk.restricted[{i}].account: no account {:?}",
                    restricted.account
                ));
            }
            if !self
                .instruments
                .iter()
                .any(|x| x.symbol == restricted.instrument)
            {
                out.push(format!(
                    "risk.restricted[{i}].instrument: no instrument {:?}",
                    restricted.instrument
                ));
            }
        }
        for (name, agent) in [
            ("gateway", &self.agents.gateway),
            ("sequencer", &self.agents.sequencer),
            ("flusher", &self.agents.flusher),
            ("market_data", &self.agents.market_data),
        ] {
            if !IDLE_NAMES.contains(&agent.idle.as_str()) {
                out.push(format!(
                    "agents.{name}.idle: {:?} is not one of {}",
                    agent.idle,
                    IDLE_NAMES.join(", ")
                ));
            }
        }
        if let Some(market_data) = &self.market_data {
            out.extend(market_data.problems());
        }
        out
    }

    /// Problems with a session's `accounts`: each must exist and belong to the session's
    /// firm (the firm of its `default_account`), and the default account must be among them.
    fn entitlement_problems(&self, path: &str, session: &SessionConfig) -> Vec<String> {
        let mut out = Vec::new();
        if session.accounts.is_empty() {
            return out;
        }
        let firm = self
            .accounts
            .iter()
            .find(|a| a.name == session.default_account)
            .map(|a| a.firm);
        for (j, name) in session.accounts.iter().enumerate() {
            match self.accounts.iter().find(|a| &a.name == name) {
                None => out.push(format!("{path}.accounts[{j}]: no account named {name:?}")),
                Some(account) if Some(account.firm) != firm => out.push(format!(
                    "{path}.accounts[{j}]: account {name:?} belongs to firm {}, not to the \
                     session's firm (the firm of default_account {:?})",
                    account.firm, session.default_account
                )),
                Some(_) => {}
            }
            if session.accounts[..j].contains(name) {
                out.push(format!("{path}.accounts[{j}]: {name:?} listed twice"));
            }
        }
        if firm.is_some() && !session.accounts.contains(&session.default_account) {
            out.push(format!(
                "{path}.default_account: {:?} is not among the session's accounts",
                session.default_account
            ));
        }
        out
    }

    /// Problems with an operator's `firm` and `accounts`: a trader needs a firm that exists,
    /// its accounts must exist and be the firm's; other roles read everything and take
    /// neither.
    fn operator_scope_problems(&self, path: &str, operator: &OperatorConfig) -> Vec<String> {
        let mut out = Vec::new();
        if operator.role != Role::Trader {
            if operator.firm.is_some() || !operator.accounts.is_empty() {
                out.push(format!(
                    "{path}: firm and accounts are for role \"trader\" only"
                ));
            }
            return out;
        }
        let Some(firm) = operator.firm else {
            out.push(format!("{path}.firm: required for role \"trader\""));
            return out;
        };
        if !self.firms.iter().any(|f| f.id == firm) {
            out.push(format!("{path}.firm: no firm with id {firm}"));
        }
        for (j, name) in operator.accounts.iter().enumerate() {
            match self.accounts.iter().find(|a| &a.name == name) {
                None => out.push(format!("{path}.accounts[{j}]: no account named {name:?}")),
                Some(account) if account.firm != firm => out.push(format!(
                    "{path}.accounts[{j}]: account {name:?} belongs to firm {}, not to firm {firm}",
                    account.firm
                )),
                Some(_) => {}
            }
        }
        out
    }

    /// The account ids an operator may read: `None` for every role but `trader` (all
    /// accounts); for a trader its listed accounts, or every account of its firm.
    #[must_use]
    pub fn operator_accounts(&self, operator: &OperatorConfig) -> Option<Vec<u32>> {
        if operator.role != Role::Trader {
            return None;
        }
        Some(
            self.accounts
                .iter()
                .filter(|a| Some(a.firm) == operator.firm)
                .filter(|a| operator.accounts.is_empty() || operator.accounts.contains(&a.name))
                .map(|a| a.id)
                .collect(),
        )
    }

    /// The accounts a session may act for, as `(name, id)`: its `accounts`, or every
    /// account of its firm when the list is empty. Empty for an unchecked configuration
    /// whose default account does not exist.
    #[must_use]
    pub fn session_accounts(&self, session: &SessionConfig) -> Vec<(String, u32)> {
        let Some(firm) = self
            .accounts
            .iter()
            .find(|a| a.name == session.default_account)
            .map(|a| a.firm)
        else {
            return Vec::new();
        };
        self.accounts
            .iter()
            .filter(|a| a.firm == firm)
            .filter(|a| session.accounts.is_empty() || session.accounts.contains(&a.name))
            .map(|a| (a.name.clone(), a.id))
            .collect()
    }

    /// The firm of a session: the firm of its default account (0 when it has none).
    #[must_use]
    pub fn session_firm(&self, session: &SessionConfig) -> u32 {
        self.accounts
            .iter()
            .find(|a| a.name == session.default_account)
            .map_or(0, |a| a.firm)
    }

    /// Engine capacities.
    #[must_use]
    pub fn engine_config(&self) -> EngineConfig {
        let defaults = EngineConfig::default();
        EngineConfig {
            orders_max: self.engine.orders_max,
            levels_per_side_max: self.engine.levels_per_side_max,
            accounts_max: self.engine.accounts_max,
            sessions_max: defaults.sessions_max.max(self.fix.sessions.len() as u32),
            ..defaults
        }
    }

    /// The instrument registry.
    ///
    /// # Panics
    /// Never for a checked configuration.
    #[must_use]
    pub fn registry(&self) -> InstrumentRegistry {
        let instruments = self
            .instruments
            .iter()
            .enumerate()
            .map(|(i, c)| instrument_from_config(i, c).expect("checked"))
            .collect();
        InstrumentRegistry::new(instruments).expect("checked")
    }

    /// Parses a scope: "global", "firm:<id>", "account:<name>", "strategy:<id>",
    /// "session:<TargetCompID>".
    ///
    /// # Errors
    /// A text saying what is wrong.
    pub fn risk_scope(&self, text: &str) -> Result<RiskScope, String> {
        let (kind, value) = text.split_once(':').unwrap_or((text, ""));
        let number = || {
            value
                .parse::<u32>()
                .map_err(|_| format!("{value:?} is not a number"))
        };
        match kind {
            "global" if value.is_empty() => Ok(RiskScope::Global),
            "firm" => {
                let id = number()?;
                self.firms
                    .iter()
                    .any(|f| f.id == id)
                    .then_some(RiskScope::Firm(FirmId(id)))
                    .ok_or_else(|| format!("no firm {id}"))
            }
            "account" => self
                .account_id(value)
                .map(|id| RiskScope::Account(AccountId(id)))
                .ok_or_else(|| format!("no account {value:?}")),
            "strategy" => Ok(RiskScope::Strategy(StrategyId(number()?))),
            "session" => self
                .session_index(value)
                .map(|id| RiskScope::Session(SessionId(id)))
                .ok_or_else(|| format!("no session with TargetCompID {value:?}")),
            _ => Err(format!(
                "{text:?} is not global, firm:<id>, account:<name>, strategy:<id> or session:<TargetCompID>"
            )),
        }
    }

    /// An account's id by name.
    #[must_use]
    pub fn account_id(&self, name: &str) -> Option<u32> {
        self.accounts.iter().find(|a| a.name == name).map(|a| a.id)
    }

    /// A FIX session's index (its engine session id) by the client's CompID.
    #[must_use]
    pub fn session_index(&self, target_comp_id: &str) -> Option<u32> {
        self.fix
            .sessions
            .iter()
            .position(|s| s.target_comp_id == target_comp_id)
            .map(|i| i as u32)
    }

    /// The engine's risk configuration.
    ///
    /// # Panics
    /// Never for a checked configuration.
    #[must_use]
    pub fn risk_config(&self) -> RiskConfig {
        let registry = self.registry();
        let symbol = |s: &str| registry.by_symbol(s).expect("checked").id;
        let trading_hours = self
            .instruments
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let hours = c.trading_hours.as_ref()?;
                let minute_ns = 60 * 1_000_000_000u64;
                let open = u64::from(parse_hhmm(&hours.open)?) * minute_ns;
                let close = u64::from(parse_hhmm(&hours.close)?) * minute_ns;
                // 00:00-24:00 is every hour: no restriction.
                (close - open.min(close) != 24 * 60 * minute_ns).then_some((
                    InstrumentId(i as u32),
                    arbiter_engine::TradingHours {
                        open_ns: open,
                        close_ns: close % (24 * 60 * minute_ns),
                    },
                ))
            })
            .collect();
        RiskConfig {
            firms_max: self
                .firms
                .iter()
                .map(|f| f.id + 1)
                .max()
                .unwrap_or(1)
                .max(16),
            account_firms: self
                .accounts
                .iter()
                .map(|a| (AccountId(a.id), FirmId(a.firm)))
                .collect(),
            operators: self
                .admin
                .operators
                .iter()
                .map(|o| Operator {
                    id: OperatorId(o.id),
                    role: match o.role {
                        Role::RiskManager => OperatorRole::RiskManager,
                        Role::Operator | Role::Auditor | Role::Trader => OperatorRole::Admin,
                    },
                })
                .collect(),
            approvals_required: self.risk.approvals_required,
            approval_window_ns: self.risk.approval_window_s * 1_000_000_000,
            trading_hours,
            velocity_window_ns: self.risk.velocity_window_ms * 1_000_000,
            velocity_events_max: self.risk.velocity_events_max,
            client_refs_per_session_max: self.risk.client_refs_per_session_max,
            limits: self.limit_settings(&symbol),
            restricted: self
                .risk
                .restricted
                .iter()
                .map(|r| {
                    (
                        AccountId(self.account_id(&r.account).expect("checked")),
                        symbol(&r.instrument),
                    )
                })
                .collect(),
            auto_kill: AutoKill {
                daily_loss: self.risk.auto_kill.daily_loss,
                velocity: self.risk.auto_kill.velocity,
                position: self.risk.auto_kill.position,
            },
            ..RiskConfig::default()
        }
    }

    /// The start-up limits of this node: `[[risk.limits]]`, where a limit spanning shards
    /// (same scope and kind as one of this shard's allowances, no instrument) is replaced
    /// by the allowance, and allowances without a venue-wide limit are added.
    fn limit_settings(&self, symbol: &dyn Fn(&str) -> InstrumentId) -> Vec<LimitSetting> {
        let allowances = self.own_allowances();
        let mut limits: Vec<LimitSetting> = self
            .risk
            .limits
            .iter()
            .map(|l| LimitSetting {
                scope: self.risk_scope(&l.scope).expect("checked"),
                instrument: l.instrument.as_deref().map(symbol),
                kind: limit_kind(&l.kind).expect("checked"),
                value: l.value,
            })
            .collect();
        for (scope, kind, value) in allowances {
            let split = limits
                .iter_mut()
                .find(|l| l.scope == scope && l.kind == kind && l.instrument.is_none());
            match split {
                Some(limit) => limit.value = value,
                None => limits.push(LimitSetting {
                    scope,
                    instrument: None,
                    kind,
                    value,
                }),
            }
        }
        limits
    }

    /// A fresh engine for this configuration: its capacities, instruments and risk. The
    /// daemon, the demo and the replay tool all build it here, so a replay reproduces the
    /// daemon's journaled digests.
    #[must_use]
    pub fn engine(&self) -> arbiter_engine::Engine {
        arbiter_engine::Engine::with_risk(
            self.engine_config(),
            self.registry(),
            &self.risk_config(),
        )
    }

    /// Whether this configuration may continue a journal written under `journaled`: the
    /// instruments, engine capacities, `[risk]` section and operators are the journal's
    /// initial state (replay rebuilds the engine from them), so they must not change; nor
    /// may the instruments this shard trades (`[[shards]]`: the orders of an instrument live
    /// in its shard's journal); names, sessions, ports and the rest may. The daemon refuses a restart and the replay tool a
    /// mid-journal CONFIG record that fails this check.
    ///
    /// # Errors
    /// What differs, first the engine (instruments, capacities), then the risk configuration.
    pub fn journal_compatible(&self, journaled: &Config) -> Result<(), JournalMismatch> {
        if self.registry() != journaled.registry()
            || self.engine_config() != journaled.engine_config()
        {
            return Err(JournalMismatch::Engine);
        }
        if self.owned_symbols() != journaled.owned_symbols() {
            return Err(JournalMismatch::Shard);
        }
        if self.risk_config() != journaled.risk_config() {
            return Err(JournalMismatch::Risk);
        }
        Ok(())
    }

    /// Where the journal lives.
    #[must_use]
    pub fn journal_dir(&self) -> PathBuf {
        self.venue.data_dir.join(&self.journal.dir)
    }

    /// Where snapshots live.
    #[must_use]
    pub fn snapshot_dir(&self) -> PathBuf {
        self.venue.data_dir.join(&self.snapshot.dir)
    }

    /// Where the access trail lives.
    #[must_use]
    pub fn access_dir(&self) -> PathBuf {
        self.venue.data_dir.join(&self.journal.access_dir)
    }

    /// The signing key file, if any (relative to the data directory).
    #[must_use]
    pub fn signing_key_path(&self) -> Option<PathBuf> {
        self.journal
            .signing_key
            .as_ref()
            .map(|p| self.venue.data_dir.join(p))
    }

    /// Where the admin socket lives.
    #[must_use]
    pub fn admin_socket(&self) -> PathBuf {
        self.venue.data_dir.join(&self.admin.socket)
    }
}

/// What makes a configuration unfit to continue a journal ([`Config::journal_compatible`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMismatch {
    /// The instruments or the engine capacities differ.
    Engine,
    /// The `[risk]` section or the operators (start-up risk configuration) differ.
    Risk,
    /// The instruments this shard trades (`[[shards]]`, `cluster.shard`) differ.
    Shard,
}

impl std::fmt::Display for JournalMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JournalMismatch::Engine => "the instruments or engine capacities differ",
            JournalMismatch::Risk => "the [risk] section or the operators differ",
            JournalMismatch::Shard => "the instruments this shard trades differ",
        })
    }
}

impl std::error::Error for JournalMismatch {}

/// Parses a decimal string into integer units with `decimals` places.
///
/// # Errors
/// When the text is not a plain decimal or has more places than `decimals`.
pub fn decimal_to_units(text: &str, decimals: u32) -> Result<i64, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) {
        return Err(format!("{text:?} is not a decimal number"));
    }
    let significant = fraction.trim_end_matches('0');
    if significant.len() > decimals as usize {
        return Err(format!("{text:?} has more than {decimals} decimals"));
    }
    let scale = 10i64.pow(decimals);
    let whole: i64 = whole
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    let mut fraction_units: i64 = 0;
    for (i, b) in significant.bytes().enumerate() {
        fraction_units += i64::from(b - b'0') * 10i64.pow(decimals - 1 - i as u32);
    }
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction_units))
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn instrument_from_config(index: usize, c: &InstrumentConfig) -> Result<Instrument, String> {
    let path = format!("instruments[{index}]");
    if c.price_decimals > 9 {
        return Err(format!("{path}.price_decimals: at most 9"));
    }
    let price = |key: &str, text: &str| {
        decimal_to_units(text, c.price_decimals).map_err(|e| format!("{path}.{key}: {e}"))
    };
    let tick = price("tick_size", &c.tick_size)?;
    let price_min = price("price_min", &c.price_min)?;
    let price_max = price("price_max", &c.price_max)?;
    if let Some(hours) = &c.trading_hours {
        for (key, text) in [("open", &hours.open), ("close", &hours.close)] {
            if parse_hhmm(text).is_none() {
                return Err(format!(
                    "{path}.trading_hours.{key}: {text:?} is not a time like \"09:30\""
                ));
            }
        }
    }
    let instrument = Instrument {
        id: InstrumentId(index as u32),
        symbol: c.symbol.clone(),
        tick_size: Price(tick),
        lot_size: Qty(c.lot_size),
        qty_min: Qty(c.qty_min),
        qty_max: Qty(c.qty_max),
        price_min: Price(price_min),
        price_max: Price(price_max),
        market_collar_ticks: c.market_collar_ticks,
        initial_phase: Phase::Continuous,
    };
    instrument.validate().map_err(|e| format!("{path}: {e}"))?;
    if price_min % tick != 0 || price_max % tick != 0 {
        return Err(format!(
            "{path}: price_min and price_max must be multiples of tick_size"
        ));
    }
    Ok(instrument)
}

/// Minutes since midnight of "HH:MM" ("24:00" allowed).
#[must_use]
pub fn parse_hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    #[test]
    fn isins_are_checked_by_their_check_digit() {
        assert!(super::is_isin("US0378331005"), "Apple");
        assert!(super::is_isin("US5949181045"), "Microsoft");
        assert!(!super::is_isin("US0378331006"), "wrong check digit");
        assert!(!super::is_isin("US037833100"), "too short");
        assert!(!super::is_isin("us0378331005"), "lower case");
    }

    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let config = Config::default_demo();
        assert_eq!(config.fix.listen, "127.0.0.1:9898");
        assert!(config.fix.sessions.len() >= 4);
        assert_eq!(config.registry().len(), config.instruments.len());
    }

    fn broken(from: &str, to: &str) -> Vec<String> {
        let text = DEFAULT_CONFIG.replacen(from, to, 1);
        assert_ne!(text, DEFAULT_CONFIG, "pattern {from:?} not found");
        Config::parse(&text).expect_err("should be refused")
    }

    #[test]
    fn session_entitlement_is_checked_with_key_paths() {
        let session = "target_comp_id = \"CLIENT1\"\n";
        let with = |accounts: &str| {
            DEFAULT_CONFIG.replacen(session, &format!("{session}accounts = {accounts}\n"), 1)
        };
        let errors = Config::parse(&with(r#"["ACC1", "NOPE"]"#)).unwrap_err();
        assert_eq!(
            errors,
            ["fix.sessions[0].accounts[1]: no account named \"NOPE\""]
        );
        let errors = Config::parse(&with(r#"["ACC1", "ALGO1"]"#)).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("fix.sessions[0].accounts[1]: account \"ALGO1\" belongs to firm 2"),
            "{errors:?}"
        );
        let errors = Config::parse(&with(r#"["ACC2"]"#)).unwrap_err();
        assert_eq!(
            errors,
            ["fix.sessions[0].default_account: \"ACC1\" is not among the session's accounts"]
        );
        let config = Config::parse(&with(r#"["ACC1"]"#)).unwrap();
        assert_eq!(
            config.session_accounts(&config.fix.sessions[0]),
            [("ACC1".to_owned(), 1)]
        );
        // Without a list: every account of the firm, and nothing of another firm.
        assert_eq!(
            config.session_accounts(&config.fix.sessions[1]),
            [("ACC1".to_owned(), 1), ("ACC2".to_owned(), 2)]
        );
        assert_eq!(config.session_firm(&config.fix.sessions[2]), 2);
    }

    #[test]
    fn a_trader_is_bound_to_its_firm_and_accounts() {
        let operator = |extra: &str| {
            DEFAULT_CONFIG.replacen(
                "name = \"audit\"\nrole = \"auditor\"\n",
                &format!("name = \"audit\"\nrole = \"trader\"\n{extra}"),
                1,
            )
        };
        assert_eq!(
            Config::parse(&operator("")).unwrap_err(),
            ["admin.operators[3].firm: required for role \"trader\""]
        );
        assert_eq!(
            Config::parse(&operator("firm = 1\naccounts = [\"ALGO1\"]\n")).unwrap_err(),
            ["admin.operators[3].accounts[0]: account \"ALGO1\" belongs to firm 2, not to firm 1"]
        );
        assert_eq!(
            Config::parse(&operator("firm = 9\n")).unwrap_err(),
            ["admin.operators[3].firm: no firm with id 9"]
        );
        let config = Config::parse(&operator("firm = 1\naccounts = [\"ACC2\"]\n")).unwrap();
        assert_eq!(
            config.operator_accounts(&config.admin.operators[3]),
            Some(vec![2])
        );
        let config = Config::parse(&operator("firm = 2\n")).unwrap();
        assert_eq!(
            config.operator_accounts(&config.admin.operators[3]),
            Some(vec![3, 4])
        );
        assert_eq!(config.operator_accounts(&config.admin.operators[0]), None);
        let errors = broken(
            "name = \"sre\"\nrole = \"operator\"\n",
            "name = \"sre\"\nrole = \"operator\"\nfirm = 1\n",
        );
        assert_eq!(
            errors,
            ["admin.operators[0]: firm and accounts are for role \"trader\" only"]
        );
    }

    #[test]
    fn journal_compatibility_covers_engine_risk_and_operators() {
        let base = Config::default_demo();
        let changed = |from: &str, to: &str| {
            let text = DEFAULT_CONFIG.replacen(from, to, 1);
            assert_ne!(text, DEFAULT_CONFIG, "pattern {from:?} not found");
            Config::parse(&text).expect("valid")
        };
        assert_eq!(base.journal_compatible(&base), Ok(()));
        // Names and sessions may change.
        let renamed = changed("name = \"sre\"", "name = \"sre-oncall\"");
        assert_eq!(renamed.journal_compatible(&base), Ok(()));
        let capacity = changed("orders_max = 262144", "orders_max = 1024");
        assert_eq!(
            capacity.journal_compatible(&base),
            Err(JournalMismatch::Engine)
        );
        let risk = changed("approvals_required = 2", "approvals_required = 1");
        assert_eq!(risk.journal_compatible(&base), Err(JournalMismatch::Risk));
        let operator = changed("id = 4\nname = \"audit\"", "id = 9\nname = \"audit\"");
        assert_eq!(
            operator.journal_compatible(&base),
            Err(JournalMismatch::Risk)
        );
    }

    #[test]
    fn a_plaintext_non_loopback_metrics_endpoint_is_refused() {
        let errors = broken("listen = \"127.0.0.1:9899\"", "listen = \"0.0.0.0:9899\"");
        assert_eq!(
            errors,
            [
                "metrics.listen: 0.0.0.0:9899 is not a loopback address and has no TLS: configure \
              [metrics.tls] (cert, key) or set metrics.allow_plaintext = true"
            ]
        );
        for allowed in [
            "listen = \"0.0.0.0:9899\"\nallow_plaintext = true",
            "listen = \"0.0.0.0:9899\"\ntls = { cert = \"m.pem\", key = \"m.key\" }",
        ] {
            let text = DEFAULT_CONFIG.replacen("listen = \"127.0.0.1:9899\"", allowed, 1);
            assert!(Config::parse(&text).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn an_agent_left_out_backs_off() {
        let config = Config::parse(&DEFAULT_CONFIG.replacen(
            "market_data = { idle = \"backoff\" }\n",
            "",
            1,
        ))
        .expect("an [agents] table without market_data is valid");
        assert_eq!(config.agents.market_data.idle, "backoff");
    }

    #[test]
    fn unknown_key_is_named() {
        let errors = broken("lot_size = 1\n", "lot_size = 1\nlot_sise = 2\n");
        assert!(errors[0].contains("lot_sise"), "{errors:?}");
    }

    #[test]
    fn wrong_type_is_named() {
        let errors = broken("orders_max = 262144", "orders_max = \"many\"");
        assert!(errors[0].contains("orders_max"), "{errors:?}");
    }

    #[test]
    fn tick_with_too_many_decimals_names_its_path() {
        let errors = broken("tick_size = \"0.01\"", "tick_size = \"0.001\"");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("instruments[0].tick_size")),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_listen_address_is_explained() {
        let errors = broken("listen = \"127.0.0.1:9898\"", "listen = \"nowhere\"");
        assert!(
            errors.iter().any(|e| e.starts_with("fix.listen")),
            "{errors:?}"
        );
    }

    #[test]
    fn unsupported_begin_string_is_explained() {
        let errors = broken("begin_string = \"FIX.4.4\"", "begin_string = \"FIX.4.2\"");
        assert!(
            errors.iter().any(|e| e.contains("begin_string")),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_default_account_is_explained() {
        let errors = broken("default_account = \"ACC1\"", "default_account = \"NOPE\"");
        assert!(
            errors.iter().any(|e| e.contains("default_account")),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_durability_is_named() {
        let errors = broken("durability = \"sync\"", "durability = \"always\"");
        assert!(
            errors[0].contains("durability") || errors[0].contains("always"),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_idle_strategy_is_explained() {
        let errors = broken(
            "sequencer = { idle = \"backoff\" }",
            "sequencer = { idle = \"spin\" }",
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("agents.sequencer.idle")),
            "{errors:?}"
        );
    }

    #[test]
    fn account_of_unknown_firm_is_explained() {
        let errors = broken("firm = 2", "firm = 9");
        assert!(errors.iter().any(|e| e.contains(".firm")), "{errors:?}");
    }

    #[test]
    fn bad_credential_hash_is_explained() {
        let errors = broken(
            "password_hash = \"$argon2id$",
            "password_hash = \"$argon2i$",
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("admin.operators[0].password_hash")),
            "{errors:?}"
        );
    }

    #[test]
    fn legacy_operator_credentials_are_refused() {
        let errors = broken(
            "role = \"operator\"\n",
            "role = \"operator\"\nsalt = \"s1\"\ncredential_sha256 = \"00\"\n",
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("admin.operators[0].credential_sha256: salted SHA-256")),
            "{errors:?}"
        );
    }

    #[test]
    fn clear_text_fix_password_is_refused_with_its_path() {
        let errors = broken(
            "target_comp_id = \"CLIENT2\"\n",
            "target_comp_id = \"CLIENT2\"\npassword = \"hunter2\"\n",
        );
        assert!(
            errors.iter().any(|e| e.starts_with(
                "fix.sessions[1].password: clear-text passwords are refused; store `password_hash`"
            )),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| !e.contains("hunter2")), "{errors:?}");
    }

    #[test]
    fn demo_operator_secrets_verify() {
        let config = Config::default_demo();
        let sre = &config.admin.operators[0];
        assert!(sre.verify("sre-demo"));
        assert!(!sre.verify("sre-demo "));
    }

    #[test]
    fn edge_settings_are_checked() {
        let errors = broken(
            "target_comp_id = \"CLIENT1\"\n",
            "target_comp_id = \"CLIENT1\"\nallowed_sources = [\"10.0.0.1/8\"]\ncert_subject = \"c1\"\n",
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("fix.sessions[0].allowed_sources[0]")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("fix.sessions[0].cert_subject")),
            "{errors:?}"
        );
    }

    #[test]
    fn public_listener_needs_tls_or_an_explicit_plaintext_opt_in() {
        let errors = broken("listen = \"127.0.0.1:9898\"", "listen = \"0.0.0.0:9898\"");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("fix.listen: 0.0.0.0:9898 is not a loopback address")),
            "{errors:?}"
        );
        let text = DEFAULT_CONFIG.replacen(
            "listen = \"127.0.0.1:9898\"",
            "listen = \"0.0.0.0:9898\"\nallow_plaintext = true",
            1,
        );
        assert!(Config::parse(&text).is_ok());
        let text = DEFAULT_CONFIG.replacen(
            "listen = \"127.0.0.1:9898\"",
            "listen = \"[::]:9898\"\ntls = { cert = \"c.pem\", key = \"k.pem\" }",
            1,
        );
        assert!(Config::parse(&text).is_ok());
    }

    #[test]
    fn unknown_role_is_named() {
        let errors = broken("role = \"auditor\"", "role = \"god\"");
        assert!(
            errors[0].contains("god") || errors[0].contains("role"),
            "{errors:?}"
        );
    }

    #[test]
    fn risk_limits_are_checked_with_their_path() {
        let errors = broken("scope = \"account:ALGO1\"", "scope = \"account:NOBODY\"");
        assert!(
            errors.iter().any(|e| e.starts_with("risk.limits[1].scope")),
            "{errors:?}"
        );
        let errors = broken("kind = \"long-position\"", "kind = \"longest\"");
        assert!(
            errors.iter().any(|e| e.starts_with("risk.limits[1].kind")),
            "{errors:?}"
        );
    }

    #[test]
    fn demo_risk_config_builds() {
        let config = Config::default_demo();
        let risk = config.risk_config();
        assert_eq!(risk.limits.len(), config.risk.limits.len());
        assert_eq!(risk.operators.len(), config.admin.operators.len());
        assert_eq!(risk.restricted.len(), 1);
    }

    #[test]
    fn decimals_convert_exactly() {
        assert_eq!(decimal_to_units("0.01", 2), Ok(1));
        assert_eq!(decimal_to_units("100000", 2), Ok(10_000_000));
        assert_eq!(decimal_to_units("1.50", 1), Ok(15));
        assert!(decimal_to_units("1.", 2).is_ok());
        assert!(decimal_to_units("-1", 2).is_err());
        assert!(decimal_to_units("1e5", 2).is_err());
    }
}
