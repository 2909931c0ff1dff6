//! The admin socket: a unix socket (owner-only) taking one line per request, and the
//! `arbiter admin` client. State changes go through the sequencer like every command.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbiter_config::{limit_kind, Config, OperatorConfig, Role};
use arbiter_engine::{
    AccountId, ApprovalAction, CommandKind, InstrumentRegistry, KillReason, KillScope, OperatorId,
    Phase, Price, RiskCommand, RiskScope, SessionId, StrategyId,
};
use arbiter_hardware::spsc::{Consumer, Producer};
use arbiter_journal::trail::AccessOutcome;
use arbiter_journal::DurableCursor;

use crate::fix_app::report::{ReportKind, ReportRequest};
use crate::messages::{AdminReply, Annotation, Request};
use crate::sequencer::{SequencerStatus, ADMIN_REQUEST_BIT};
use arbiter_fix::entitlement::Entitlement;

/// What the admin thread needs.
pub struct AdminServer {
    /// The socket path.
    pub path: PathBuf,
    /// Requests to the sequencer.
    pub requests: Producer<Request>,
    /// Its replies.
    pub replies: Consumer<AdminReply>,
    /// Sequencer figures.
    pub status: Arc<SequencerStatus>,
    /// Journal durability.
    pub durable: DurableCursor,
    /// Instruments, to resolve symbols.
    pub instruments: InstrumentRegistry,
    /// Set to stop the daemon.
    pub shutdown: Arc<AtomicBool>,
    /// Venue name.
    pub venue: String,
    /// Who may do what.
    pub operators: Vec<OperatorConfig>,
    /// The venue configuration (accounts, sessions and price decimals by name).
    pub config: Config,
    /// Latency histograms, for `dump` and `status`.
    pub telemetry: std::sync::Arc<arbiter_perf::Telemetry>,
    /// Where `dump` writes.
    pub dump_dir: PathBuf,
    /// Session logouts for the gateway.
    pub control: Producer<crate::messages::GatewayControl>,
    /// Report requests (orders, positions) for the gateway.
    pub reports: std::sync::mpsc::SyncSender<ReportRequest>,
    /// The access trail: every request, its operator and outcome (`None`: not kept).
    pub trail: Option<arbiter_journal::trail::AccessTrail>,
    /// The background verifier's findings, shown by `status`.
    pub verifier: Arc<crate::access_trail::VerifierStatus>,
    /// Journal checkpoint signing: `signed=N` in `status` (`None`: no key).
    pub signing: bool,
    /// The snapshot agent (`None`: snapshots disabled).
    pub snapshots: Option<crate::snapshot_agent::SnapshotRequester>,
    /// The market-data agent's figures (`None`: no feed).
    pub market_data: Option<Arc<crate::market_data_agent::MarketDataStatus>>,
    /// Clustered: replication and lease state for `status` (`None`: a single node).
    pub cluster: Option<Arc<crate::cluster_agent::ClusterStatus>>,
    /// Clustered leader: venue-wide controls across shards (`None`: a single node).
    pub venue_control: Option<crate::venue_control::VenueControl>,
}

/// The operator a request was authenticated as.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub(crate) id: u32,
    pub(crate) role: Role,
}

/// The roles, in the order of [`ROLE_TABLE`]'s columns.
pub const ROLES: [Role; 4] = [
    Role::RiskManager,
    Role::Operator,
    Role::Auditor,
    Role::Trader,
];

/// Who may run what: one row per admin request, one column per role of [`ROLES`]
/// (risk-manager, operator, auditor, trader). docs/security.md holds the same table; a test
/// keeps them equal. A request not listed is refused to everyone.
pub const ROLE_TABLE: [(&str, [bool; 4]); 15] = [
    ("status", [true, true, true, false]),
    ("dump", [true, true, true, false]),
    ("positions", [true, true, true, true]),
    ("orders", [true, true, true, true]),
    ("halt", [true, true, false, false]),
    ("resume", [true, true, false, false]),
    ("kill", [true, true, false, false]),
    ("venue", [true, true, false, false]),
    ("logout", [true, true, false, false]),
    ("snapshot", [true, true, false, false]),
    ("release", [true, false, false, false]),
    ("limit", [true, false, false, false]),
    ("refprice", [true, false, false, false]),
    ("restrict", [true, false, false, false]),
    ("shutdown", [false, true, false, false]),
];

/// Whether a role may run a request ([`ROLE_TABLE`]).
pub(crate) fn allowed(role: Role, request: &str) -> bool {
    let column = ROLES
        .iter()
        .position(|r| *r == role)
        .expect("every role has a column");
    ROLE_TABLE
        .iter()
        .find(|(name, _)| *name == request)
        .is_some_and(|(_, roles)| roles[column])
}

/// The optional first word after a kill scope may name a reason; the rest is free text.
pub(crate) fn kill_reason<'a>(words: &'a [&'a str]) -> (KillReason, &'a [&'a str]) {
    let reason = match words.first().copied() {
        Some("runaway-algo") => KillReason::RunawayAlgo,
        Some("fat-finger") => KillReason::FatFinger,
        Some("market-event") => KillReason::MarketEvent,
        Some("compliance") => KillReason::Compliance,
        Some("drill") => KillReason::Drill,
        _ => return (KillReason::Unspecified, words),
    };
    (reason, &words[1..])
}

/// Checks a secret against an operator's argon2id hash (constant-time comparison). An
/// unknown name costs one verification too, so timing does not tell which names exist.
fn verify_operator(operator: Option<&OperatorConfig>, secret: &str) -> bool {
    static UNKNOWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match operator {
        Some(operator) => operator.verify(secret),
        None => {
            let phc = UNKNOWN.get_or_init(|| {
                arbiter_fix::credential::hash_password(b"no such operator").unwrap_or_default()
            });
            let _ = arbiter_fix::credential::verify_password(phc, secret.as_bytes());
            false
        }
    }
}

impl AdminServer {
    /// Binds the socket (replacing a stale one) with owner-only permissions.
    ///
    /// # Errors
    /// The socket cannot be created.
    pub fn bind(&self) -> std::io::Result<UnixListener> {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// Serves until shutdown. Connections are handled one at a time: admin is not a hot path.
    pub fn serve(mut self, listener: &UnixListener) {
        let mut next_id = 1u64;
        while !self.shutdown.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    self.handle(stream, &mut next_id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Venue-wide controls from other shards wait here at most one nap.
                    self.serve_venue(&mut next_id);
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    eprintln!("arbiter: admin socket: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// The operator and the accounts it may read (`None`: all).
    fn authenticate(&self, line: &str) -> Option<(Caller, Option<Entitlement>)> {
        let mut words = line.split_whitespace();
        let (Some("auth"), Some(name), Some(secret)) = (words.next(), words.next(), words.next())
        else {
            return None;
        };
        let operator = self.operators.iter().find(|o| o.name == name);
        if !verify_operator(operator, secret) {
            return None;
        }
        operator.map(|operator| {
            let caller = Caller {
                id: operator.id,
                role: operator.role,
            };
            let accounts = self.config.operator_accounts(operator).map(|ids| {
                let mut entitled = Entitlement::new(self.config.engine.accounts_max);
                for id in ids {
                    entitled.grant(id);
                }
                entitled
            });
            (caller, accounts)
        })
    }

    fn handle(&mut self, stream: UnixStream, next_id: &mut u64) {
        let mut auth = String::new();
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut auth).is_err() || reader.read_line(&mut line).is_err() {
            return;
        }
        // The login name only; the secret never reaches a log or the trail.
        let login = auth.split_whitespace().nth(1).unwrap_or("").to_owned();
        let answer = match self.authenticate(auth.trim()) {
            None => {
                eprintln!(
                    "arbiter: admin: refused request {:?}: bad credentials",
                    line.trim()
                );
                crate::access_trail::admin_request(
                    self.trail.as_ref(),
                    &login,
                    0,
                    line.trim(),
                    AccessOutcome::Refused,
                    "bad credentials",
                );
                "error: not authenticated".to_owned()
            }
            Some((caller, accounts)) => {
                let request = line.split_whitespace().next().unwrap_or("");
                if allowed(caller.role, request) {
                    eprintln!(
                        "arbiter: admin: operator {} runs {:?}",
                        caller.id,
                        line.trim()
                    );
                    let answer = self.answer(line.trim(), caller, accounts, next_id);
                    let failed = answer
                        .lines()
                        .any(|l| l.starts_with("error") || l.starts_with("rejected"));
                    let outcome = if failed {
                        AccessOutcome::Failed
                    } else {
                        AccessOutcome::Accepted
                    };
                    crate::access_trail::admin_request(
                        self.trail.as_ref(),
                        &login,
                        caller.id,
                        line.trim(),
                        outcome,
                        &answer,
                    );
                    answer
                } else {
                    eprintln!(
                        "arbiter: admin: operator {} ({:?}) refused {:?}: role",
                        caller.id,
                        caller.role,
                        line.trim()
                    );
                    let answer = format!("error: role {:?} may not run {request:?}", caller.role);
                    crate::access_trail::admin_request(
                        self.trail.as_ref(),
                        &login,
                        caller.id,
                        line.trim(),
                        AccessOutcome::Refused,
                        &answer,
                    );
                    answer
                }
            }
        };
        let mut stream = &stream;
        let _ = writeln!(stream, "{answer}");
    }

    fn answer(
        &mut self,
        line: &str,
        caller: Caller,
        accounts: Option<Entitlement>,
        next_id: &mut u64,
    ) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["positions"] => self.report(ReportKind::Positions, accounts),
            ["orders"] => self.report(ReportKind::Orders, accounts),
            ["status"] => format!(
                "venue={} applied_seq={} durable_seq={} live_orders={} trades={} digest={:016x} journal_errors={} {} {} kill_switches_active={} sessions={} {}",
                self.venue,
                self.status.applied_seq.load(Ordering::Acquire),
                self.durable.get().0,
                self.status.live_orders.load(Ordering::Relaxed),
                self.status.trades.load(Ordering::Relaxed),
                self.status.digest.load(Ordering::Relaxed),
                self.status.journal_errors.load(Ordering::Relaxed),
                self.trail_line(),
                self.verifier.line(),
                self.status.kill_switches_active.load(Ordering::Relaxed),
                self.sessions_line(),
                crate::market_data_agent::status_line(
                    self.market_data.as_deref(),
                    self.status.applied_seq.load(Ordering::Acquire) + 1
                ),
            ) + &self.cluster.as_ref().map_or_else(String::new, |c| format!(" {}", c.line())),
            ["venue", rest @ ..] => self.venue_command(rest, caller, next_id),
            ["halt", symbol, reason @ ..] => {
                self.set_phase(symbol, Phase::Halted, caller, reason, next_id)
            }
            ["resume", symbol, reason @ ..] => {
                self.set_phase(symbol, Phase::Continuous, caller, reason, next_id)
            }
            ["kill", scope, rest @ ..] => match self.kill_scope(scope) {
                Ok(scope) => {
                    let (reason, text) = kill_reason(rest);
                    let kind = CommandKind::Risk(RiskCommand::Kill {
                        operator: OperatorId(caller.id),
                        scope,
                        reason,
                    });
                    self.submit(kind, caller, text, next_id)
                }
                Err(problem) => format!("error: {problem}"),
            },
            ["release", scope, rest @ ..] => match self.kill_scope(scope) {
                Ok(scope) => {
                    let kind = CommandKind::Risk(RiskCommand::Approve {
                        operator: OperatorId(caller.id),
                        action: ApprovalAction::Release(scope),
                    });
                    self.submit(kind, caller, rest, next_id)
                }
                Err(problem) => format!("error: {problem}"),
            },
            ["limit", scope, kind, value, rest @ ..] => {
                match self.limit_command(caller, scope, kind, value, rest) {
                    Ok((command, reason)) => self.submit(command, caller, &reason, next_id),
                    Err(problem) => format!("error: {problem}"),
                }
            }
            ["refprice", symbol, price, rest @ ..] => {
                let Some(instrument) = self.instruments.by_symbol(symbol) else {
                    return format!("error: unknown instrument {symbol}");
                };
                if let Some(refusal) = self.config.foreign_refusal(symbol) {
                    return format!("error: {refusal}");
                }
                let index = instrument.id.0 as usize;
                let decimals = self.config.instruments[index].price_decimals;
                match arbiter_config::decimal_to_units(price, decimals) {
                    Ok(units) => {
                        let kind = CommandKind::Risk(RiskCommand::SetReferencePrice {
                            operator: OperatorId(caller.id),
                            instrument: instrument.id,
                            price: Price(units),
                        });
                        self.submit(kind, caller, rest, next_id)
                    }
                    Err(problem) => format!("error: price {problem}"),
                }
            }
            ["restrict", account, symbol, flag, rest @ ..] => {
                let Some(account) = self.config.account_id(account) else {
                    return format!("error: unknown account {account}");
                };
                let Some(instrument) = self.instruments.by_symbol(symbol) else {
                    return format!("error: unknown instrument {symbol}");
                };
                let restricted = match *flag {
                    "on" => true,
                    "off" => false,
                    _ => return "error: restrict ACCOUNT SYMBOL on|off".to_owned(),
                };
                let kind = CommandKind::Risk(RiskCommand::SetRestricted {
                    operator: OperatorId(caller.id),
                    account: AccountId(account),
                    instrument: instrument.id,
                    restricted,
                });
                self.submit(kind, caller, rest, next_id)
            }
            ["logout", session] => match self.config.session_index(session) {
                Some(index) => {
                    let request = crate::messages::GatewayControl::Logout { session: index };
                    if self.control.try_push(request).is_ok() {
                        format!("ok logging out {session}")
                    } else {
                        "error: gateway busy, try again".to_owned()
                    }
                }
                None => format!("error: unknown session {session}"),
            },
            ["dump"] => match self.telemetry.dump(&self.dump_dir) {
                Ok(files) => format!("ok dumped {} files to {}", files.len(), self.dump_dir.display()),
                Err(e) => format!("error: dump to {}: {e}", self.dump_dir.display()),
            },
            ["snapshot"] => match &self.snapshots {
                Some(agent) => match agent.request() {
                    Ok(line) => line,
                    Err(e) if e.starts_with("error") => e,
                    Err(e) => format!("error: {e}"),
                },
                None => "error: snapshots are disabled (snapshot.interval_records = 0)".to_owned(),
            },
            ["shutdown"] => {
                self.shutdown.store(true, Ordering::Release);
                "ok shutting down".to_owned()
            }
            _ => "error: unknown request; see docs/admin.md (status, positions, orders, halt, \
                  resume, kill, venue, release, limit, refprice, restrict, snapshot, shutdown)"
                .to_owned(),
        }
    }

    /// Asks the gateway (which owns orders and positions) for a report limited to
    /// `accounts`, and waits for it.
    fn report(&self, kind: ReportKind, accounts: Option<Entitlement>) -> String {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let request = ReportRequest {
            kind,
            accounts,
            reply,
        };
        if self.reports.try_send(request).is_err() {
            return "error: gateway busy, try again".to_owned();
        }
        answer
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| "error: no answer from the gateway within 5 s".to_owned())
    }

    /// `signing=on|off trail_written=N trail_dropped=N trail_errors=N` (`trail=off`).
    fn trail_line(&self) -> String {
        let signing = if self.signing { "on" } else { "off" };
        match &self.trail {
            Some(trail) => {
                let status = trail.status();
                format!(
                    "signing={signing} trail_written={} trail_dropped={} trail_errors={}",
                    status.written.load(Ordering::Relaxed),
                    status.dropped.load(Ordering::Relaxed),
                    status.errors.load(Ordering::Relaxed),
                )
            }
            None => format!("signing={signing} trail=off"),
        }
    }

    /// "global", "instrument:SYM", "account:NAME", "strategy:ID", "session:COMPID".
    fn kill_scope(&self, text: &str) -> Result<KillScope, String> {
        let (kind, value) = text.split_once(':').unwrap_or((text, ""));
        match kind {
            "global" => Ok(KillScope::Global),
            "instrument" => match self.config.foreign_refusal(value) {
                Some(refusal) if self.instruments.by_symbol(value).is_some() => Err(refusal),
                _ => self
                    .instruments
                    .by_symbol(value)
                    .map(|i| KillScope::Instrument(i.id))
                    .ok_or_else(|| format!("unknown instrument {value}")),
            },
            "account" => self
                .config
                .account_id(value)
                .map(|id| KillScope::Account(AccountId(id)))
                .ok_or_else(|| format!("unknown account {value}")),
            "strategy" => value
                .parse()
                .map(|id| KillScope::Strategy(StrategyId(id)))
                .map_err(|_| format!("strategy id {value:?} is not a number")),
            "session" => self
                .config
                .session_index(value)
                .map(|id| KillScope::Session(SessionId(id)))
                .ok_or_else(|| format!("unknown session {value}")),
            _ => Err(format!(
                "scope {text:?}: global, instrument:SYM, account:NAME, strategy:ID or session:COMPID"
            )),
        }
    }

    fn limit_command(
        &self,
        caller: Caller,
        scope: &str,
        kind: &str,
        value: &str,
        rest: &[&str],
    ) -> Result<(CommandKind, Vec<&'static str>), String> {
        let scope: RiskScope = self.config.risk_scope(scope)?;
        let kind = limit_kind(kind).ok_or_else(|| format!("unknown limit kind {kind}"))?;
        let value = match value {
            "none" => arbiter_engine::NO_LIMIT,
            v => v
                .parse()
                .map_err(|_| format!("limit value {v:?} is not a whole number"))?,
        };
        let instrument = match rest.first().and_then(|r| r.strip_prefix("instrument:")) {
            Some(symbol) => Some(
                self.instruments
                    .by_symbol(symbol)
                    .ok_or_else(|| format!("unknown instrument {symbol}"))?
                    .id,
            ),
            None => None,
        };
        Ok((
            CommandKind::Risk(RiskCommand::SetLimit {
                operator: OperatorId(caller.id),
                scope,
                instrument,
                kind,
                value,
            }),
            Vec::new(),
        ))
    }

    /// "CLIENT1:up,CLIENT2:down,...": which sessions are logged on.
    fn sessions_line(&self) -> String {
        self.telemetry
            .metrics
            .sessions()
            .map(|(name, state)| format!("{name}:{}", if state.get() == 1 { "up" } else { "down" }))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn set_phase(
        &mut self,
        symbol: &str,
        phase: Phase,
        caller: Caller,
        reason: &[&str],
        next_id: &mut u64,
    ) -> String {
        let Some(instrument) = self.instruments.by_symbol(symbol) else {
            return format!("error: unknown instrument {symbol}");
        };
        if let Some(refusal) = self.config.foreign_refusal(symbol) {
            return format!("error: {refusal}");
        }
        let kind = CommandKind::SetPhase {
            instrument: instrument.id,
            phase,
        };
        self.submit(kind, caller, reason, next_id)
    }

    /// Sends a command to the sequencer, journaled with the operator and the reason.
    pub(crate) fn submit(
        &mut self,
        kind: CommandKind,
        caller: Caller,
        reason: &[&str],
        next_id: &mut u64,
    ) -> String {
        let request_id = ADMIN_REQUEST_BIT | *next_id;
        *next_id += 1;
        let note = format!("operator={} reason={}", caller.id, reason.join(" "));
        let request = Request {
            kind,
            annotation: Annotation::new(note.as_bytes()),
            read_ns: 0,
            enqueued_ns: 0,
            request_id,
        };
        if self.requests.try_push(request).is_err() {
            return "error: sequencer busy, try again".to_owned();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            while let Some(reply) = self.replies.try_pop() {
                if reply.request_id == request_id {
                    return match (reply.rejected, reply.risk) {
                        (Some(reason), _) => {
                            format!("rejected seq={} reason={}", reply.seq.0, reason.text())
                        }
                        (None, Some(risk)) => format!(
                            "ok seq={} events={} risk={risk:?}",
                            reply.seq.0, reply.events
                        ),
                        (None, None) => format!("ok seq={} events={}", reply.seq.0, reply.events),
                    };
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        "error: no answer from the sequencer within 5 s".to_owned()
    }
}

/// `arbiter admin ...`: authenticates, sends one request line and returns the answer (one
/// line; `venue ...` answers one line per shard and a summary).
///
/// # Errors
/// The socket cannot be reached.
pub fn client(
    socket: &Path,
    operator: &str,
    secret: &str,
    words: &[String],
) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    // A venue request waits for every shard: its own timeout, plus NATS's connection.
    let venue_ms = (words.first().map(String::as_str) == Some("venue")).then(|| {
        words
            .windows(2)
            .find(|w| w[0] == "--timeout-ms")
            .and_then(|w| w[1].parse::<u64>().ok())
            .unwrap_or(crate::venue_control::TIMEOUT_MS_DEFAULT)
            .min(crate::venue_control::TIMEOUT_MS_MAX)
    });
    let wait = Duration::from_secs(10) + Duration::from_millis(venue_ms.unwrap_or(0) + 10_000);
    stream.set_read_timeout(Some(wait))?;
    writeln!(stream, "auth {operator} {secret}")?;
    writeln!(stream, "{}", words.join(" "))?;
    let mut answer = String::new();
    // The daemon closes the connection after its answer.
    std::io::Read::read_to_string(&mut BufReader::new(&stream), &mut answer)?;
    Ok(answer.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of a markdown role table: the request's first word, then yes/no per role.
    fn documented_table(text: &str) -> Vec<(String, Vec<bool>)> {
        text.lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
                let request = cells[0].trim().trim_start_matches('`');
                let request = request.split(['`', ' ']).next().unwrap().to_owned();
                let roles = cells[1..]
                    .iter()
                    .map(|cell| match cell.trim() {
                        "yes" => true,
                        "no" => false,
                        other => panic!("{other:?} in {line:?}"),
                    })
                    .collect();
                (request, roles)
            })
            .collect()
    }

    #[test]
    fn the_role_table_is_the_documented_one() {
        let code: Vec<(String, Vec<bool>)> = ROLE_TABLE
            .iter()
            .map(|(name, roles)| ((*name).to_owned(), roles.to_vec()))
            .collect();
        let security = include_str!("../docs/security.md");
        let security = &security[security.find("## Admin roles").unwrap()..];
        let security = &security[..security.find("\n## ").unwrap()];
        assert_eq!(documented_table(security), code, "docs/security.md");
        let admin = include_str!("../docs/admin.md");
        let admin = &admin[admin.find("## Roles").unwrap()..];
        assert_eq!(documented_table(admin), code, "docs/admin.md");
        // Every request `answer` knows has a row (an unlisted one is refused to all).
        for (name, _) in ROLE_TABLE {
            assert!(ROLES.iter().any(|&role| allowed(role, name)), "{name}");
        }
    }

    #[test]
    fn a_trader_reads_positions_and_orders_only() {
        for (name, _) in ROLE_TABLE {
            assert_eq!(
                allowed(Role::Trader, name),
                matches!(name, "positions" | "orders"),
                "{name}"
            );
        }
        assert!(!allowed(Role::Trader, "anything-else"));
    }

    #[test]
    fn roles_follow_the_table() {
        assert!(allowed(Role::Auditor, "status"));
        assert!(!allowed(Role::Auditor, "halt"));
        assert!(!allowed(Role::Auditor, "shutdown"));
        assert!(allowed(Role::Operator, "halt"));
        assert!(allowed(Role::Operator, "shutdown"));
        assert!(allowed(Role::RiskManager, "halt"));
        assert!(!allowed(Role::RiskManager, "shutdown"));
        assert!(allowed(Role::Operator, "snapshot"));
        assert!(allowed(Role::RiskManager, "snapshot"));
        assert!(!allowed(Role::Auditor, "snapshot"));
        assert!(!allowed(Role::Operator, "anything-else"));
    }

    #[test]
    fn demo_credentials_match_the_embedded_configuration() {
        let config = arbiter_config::Config::default_demo();
        for operator in &config.admin.operators {
            let secret = format!("{}-demo", operator.name);
            assert!(verify_operator(Some(operator), &secret));
            assert!(!verify_operator(Some(operator), &format!("{secret}x")));
        }
        assert!(!verify_operator(None, "sre-demo"));
    }
}
