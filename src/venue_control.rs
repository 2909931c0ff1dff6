//! Venue-wide controls on the daemon's side (docs/cluster.md, "Venue-wide controls"):
//! `arbiter admin venue kill|halt|resume|release` on any shard leader's admin socket
//! publishes the control to every shard ([`arbiter_cluster::fan_out`]); each leader's
//! listener ([`arbiter_cluster::VenueListener`], its own thread) hands it to the admin
//! thread, which journals it through the admin request ring exactly like the socket's own
//! `kill global`, `halt SYMBOL`, `resume SYMBOL` or `release global` (with the operator
//! and the reason), and answers with the shard name, sequence numbers and outcome.
//!
//! Trust: the operator authenticated at the origin shard's admin socket (argon2id, role
//! table, access trail); the other shards trust the request because only the venue
//! daemons' NATS users may publish on the subject (docs/cluster.md lists the
//! permissions), and still check that the operator id exists with a role allowed to run
//! the action. Each request id is applied once per shard ([`VenueLedger`]); a request
//! issued more than [`STALE_AFTER_MS`] before (or after) the shard's clock is refused.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use arbiter_cluster::{
    fan_out, NatsConnection, VenueAction, VenueDelivery, VenueLedger, VenueListener, VenueRequest,
};
use arbiter_config::Config;
use arbiter_engine::{ApprovalAction, CommandKind, KillScope, OperatorId, Phase, RiskCommand};
use arbiter_journal::trail::AccessOutcome;

use crate::admin::{allowed, kill_reason, AdminServer, Caller};

/// Default time the CLI waits for every shard's answer.
pub const TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// Longest `--timeout-ms`.
pub const TIMEOUT_MS_MAX: u64 = 60_000;
/// A request issued this long before (or after) a shard's clock is refused as stale (a
/// replay of an old message, or clocks far apart).
pub const STALE_AFTER_MS: u64 = 60_000;

/// The admin thread's side of venue-wide controls (a clustered leader only).
#[derive(Debug)]
pub struct VenueControl {
    /// Requests from the listener.
    pub deliveries: Receiver<VenueDelivery>,
    /// Ids already applied here, with their answers.
    pub ledger: VenueLedger,
    /// How to reach NATS (for publishing this socket's own venue requests).
    pub connection: NatsConnection,
    /// This shard.
    pub shard: String,
    /// Every shard of the venue, in configuration order.
    pub shards: Vec<String>,
}

/// Starts the listener of a clustered leader (`None` when not clustered). Its
/// subscription is confirmed before this returns, so a control published once the daemon
/// says it is listening reaches it.
///
/// # Errors
/// NATS does not confirm the subscription within 10 s.
pub fn start(config: &Config) -> Result<Option<(VenueListener, VenueControl)>, String> {
    let Some(cluster) = &config.cluster else {
        return Ok(None);
    };
    let connection =
        crate::cluster_agent::nats_connection(cluster).with_connect_timeout(Duration::from_secs(2));
    let (listener, deliveries) = VenueListener::spawn(
        connection.clone(),
        cluster.shard.clone(),
        Duration::from_secs(10),
    )
    .map_err(|e| e.to_string())?;
    Ok(Some((
        listener,
        VenueControl {
            deliveries,
            ledger: VenueLedger::default(),
            connection,
            shard: cluster.shard.clone(),
            shards: config.shard_names(),
        },
    )))
}

/// `venue ACTION [--timeout-ms N] [REASON...]` split into its parts.
fn parse(words: &[&str]) -> Result<(VenueAction, u64, String), String> {
    const USAGE: &str = "venue kill|halt|resume|release [--timeout-ms N] [REASON...]";
    let Some((action, rest)) = words.split_first() else {
        return Err(format!("usage: {USAGE}"));
    };
    let action = VenueAction::parse(action).ok_or_else(|| format!("usage: {USAGE}"))?;
    let mut timeout_ms = TIMEOUT_MS_DEFAULT;
    let mut reason = Vec::new();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        if *word == "--timeout-ms" {
            timeout_ms = words
                .next()
                .and_then(|v| v.parse().ok())
                .filter(|v| (1..=TIMEOUT_MS_MAX).contains(v))
                .ok_or_else(|| format!("--timeout-ms: a number of ms, 1 to {TIMEOUT_MS_MAX}"))?;
        } else {
            reason.push(*word);
        }
    }
    Ok((action, timeout_ms, reason.join(" ")))
}

/// The answer of one shard's submit (`ok seq=N events=E ...` or `rejected seq=N reason=...`
/// or `error: ...`) as `(outcome, seq, detail)`.
fn outcome<'a>(answer: &'a str) -> (&'static str, Option<&'a str>, &'a str) {
    let seq = |text: &'a str| text.split(' ').find_map(|w| w.strip_prefix("seq="));
    if let Some(rest) = answer.strip_prefix("ok ") {
        ("ok", seq(rest), "")
    } else if let Some(rest) = answer.strip_prefix("rejected ") {
        let detail = rest.split_once("reason=").map_or("", |(_, r)| r);
        ("rejected", seq(rest), detail)
    } else {
        (
            "error",
            None,
            answer.strip_prefix("error: ").unwrap_or(answer),
        )
    }
}

impl AdminServer {
    /// `venue ...` on this socket: publishes the control to every shard and waits for
    /// their answers (serving this shard's own delivery meanwhile). One line per
    /// configured shard, then `ok venue ...` or `error: ...` when a shard did not answer
    /// or did not apply it.
    pub(crate) fn venue_command(
        &mut self,
        words: &[&str],
        caller: Caller,
        next_id: &mut u64,
    ) -> String {
        let (action, timeout_ms, reason) = match parse(words) {
            Ok(parsed) => parsed,
            Err(problem) => return format!("error: {problem}"),
        };
        if !allowed(caller.role, action.name()) {
            return format!(
                "error: role {:?} may not run \"venue {}\"",
                caller.role,
                action.name()
            );
        }
        let Some(venue) = &self.venue_control else {
            return "error: venue controls need a clustered leader ([cluster] with NATS)"
                .to_owned();
        };
        let operator = self
            .operators
            .iter()
            .find(|o| o.id == caller.id)
            .map_or_else(String::new, |o| o.name.clone());
        let request = VenueRequest {
            id: arbiter_cluster::venue::new_request_id(),
            action,
            operator_id: caller.id,
            operator,
            origin: venue.shard.clone(),
            issued_unix_ms: arbiter_cluster::venue::unix_ms(),
            reason,
        };
        let shards = venue.shards.clone();
        let (result_tx, result_rx) = std::sync::mpsc::channel();
        let fan = {
            let (connection, request, shards) =
                (venue.connection.clone(), request.clone(), shards.clone());
            std::thread::Builder::new()
                .name("arb-venue-out".into())
                .spawn(move || {
                    let timeout = Duration::from_millis(timeout_ms);
                    let _ = result_tx.send(fan_out(&connection, &request, &shards, timeout));
                })
        };
        if let Err(e) = fan {
            return format!("error: venue control thread: {e}");
        }
        // This shard's own delivery arrives through the listener like every other's.
        let answers = loop {
            self.serve_venue(next_id);
            match result_rx.recv_timeout(Duration::from_millis(2)) {
                Ok(result) => break result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return "error: venue control thread ended without an answer".to_owned();
                }
            }
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(e) => return format!("error: venue {}: {e}", action.name()),
        };
        let mut lines = Vec::new();
        let mut missing = Vec::new();
        let mut failed = Vec::new();
        for shard in &shards {
            match answers.get(shard) {
                Some(line) => {
                    if !line.contains(" outcome=ok") {
                        failed.push(shard.as_str());
                    }
                    lines.push(line.clone());
                }
                None => {
                    missing.push(shard.as_str());
                    lines.push(format!(
                        "shard={shard} outcome=not-answered within_ms={timeout_ms}"
                    ));
                }
            }
        }
        for (shard, line) in &answers {
            if !shards.contains(shard) {
                lines.push(format!("{line} unconfigured_shard=true"));
            }
        }
        let summary = if missing.is_empty() && failed.is_empty() {
            format!(
                "ok venue {} id={} shards={} answered={}",
                action.name(),
                request.id,
                shards.len(),
                shards.len()
            )
        } else {
            let mut text = format!("error: venue {} id={}:", action.name(), request.id);
            if !missing.is_empty() {
                text.push_str(&format!(
                    " {} of {} shards did not answer within {timeout_ms} ms ({}); their state \
                     is unknown;",
                    missing.len(),
                    shards.len(),
                    missing.join(", ")
                ));
            }
            if !failed.is_empty() {
                text.push_str(&format!(" not applied on {};", failed.join(", ")));
            }
            text.pop();
            text
        };
        lines.push(summary);
        lines.join("\n")
    }

    /// Journals the venue controls the listener received (called between connections and
    /// while this socket's own venue request waits).
    pub(crate) fn serve_venue(&mut self, next_id: &mut u64) {
        loop {
            let Some(delivery) = self
                .venue_control
                .as_ref()
                .and_then(|v| v.deliveries.try_recv().ok())
            else {
                return;
            };
            let answer = self.apply_venue(&delivery.request, next_id);
            let _ = delivery.answer.try_send(answer);
        }
    }

    /// One shard's handling of one control: once per id, operator and age checked, then
    /// journaled through [`AdminServer::submit`] like the socket's own commands.
    fn apply_venue(&mut self, request: &VenueRequest, next_id: &mut u64) -> String {
        let Some(venue) = &self.venue_control else {
            return String::new();
        };
        let shard = venue.shard.clone();
        if let Some(previous) = venue.ledger.answered(&request.id) {
            return format!("{previous} repeated=true");
        }
        let head = format!(
            "shard={shard} id={} action={}",
            request.id,
            request.action.name()
        );
        let now = arbiter_cluster::venue::unix_ms();
        let operator = self
            .operators
            .iter()
            .find(|o| o.id == request.operator_id && o.name == request.operator)
            .map(|o| Caller {
                id: o.id,
                role: o.role,
            });
        let answer = if now.abs_diff(request.issued_unix_ms) > STALE_AFTER_MS {
            format!(
                "{head} outcome=refused reason=\"issued {} ms from this shard's clock (stale or \
                 clocks apart)\"",
                now.abs_diff(request.issued_unix_ms)
            )
        } else {
            match operator {
                None => format!(
                    "{head} outcome=refused reason=\"no operator {} with id {} here\"",
                    request.operator, request.operator_id
                ),
                Some(caller) if !allowed(caller.role, request.action.name()) => format!(
                    "{head} outcome=refused reason=\"role {:?} may not run {}\"",
                    caller.role,
                    request.action.name()
                ),
                Some(caller) => self.journal_venue(request, caller, &head, next_id),
            }
        };
        eprintln!(
            "arbiter: venue control {} from shard {} by operator {}: {answer}",
            request.action.name(),
            request.origin,
            request.operator_id
        );
        let trail_outcome = if answer.contains(" outcome=ok") {
            AccessOutcome::Accepted
        } else {
            AccessOutcome::Failed
        };
        crate::access_trail::admin_request(
            self.trail.as_ref(),
            &request.operator,
            request.operator_id,
            &format!(
                "venue {} {} (request {} from shard {})",
                request.action.name(),
                request.reason,
                request.id,
                request.origin
            ),
            trail_outcome,
            &answer,
        );
        if let Some(venue) = &mut self.venue_control {
            venue.ledger.record(&request.id, &answer);
        }
        answer
    }

    /// The commands of one control, each journaled with `operator=<id> reason=venue:<id>
    /// <reason>`; their sequence numbers and the first failure.
    fn journal_venue(
        &mut self,
        request: &VenueRequest,
        caller: Caller,
        head: &str,
        next_id: &mut u64,
    ) -> String {
        let tag = format!("venue:{}", request.id);
        let words: Vec<&str> = request.reason.split_whitespace().collect();
        let mut note: Vec<&str> = vec![&tag];
        let kinds: Vec<CommandKind> = match request.action {
            VenueAction::Kill => {
                let (reason, text) = kill_reason(&words);
                note.extend_from_slice(text);
                vec![CommandKind::Risk(RiskCommand::Kill {
                    operator: OperatorId(caller.id),
                    scope: KillScope::Global,
                    reason,
                })]
            }
            VenueAction::Release => {
                note.extend_from_slice(&words);
                vec![CommandKind::Risk(RiskCommand::Approve {
                    operator: OperatorId(caller.id),
                    action: ApprovalAction::Release(KillScope::Global),
                })]
            }
            VenueAction::Halt | VenueAction::Resume => {
                note.extend_from_slice(&words);
                let phase = if request.action == VenueAction::Halt {
                    Phase::Halted
                } else {
                    Phase::Continuous
                };
                self.config
                    .owned_symbols()
                    .iter()
                    .filter_map(|s| self.instruments.by_symbol(s))
                    .map(|i| CommandKind::SetPhase {
                        instrument: i.id,
                        phase,
                    })
                    .collect()
            }
        };
        let mut seqs = Vec::new();
        for kind in kinds {
            let answer = self.submit(kind, caller, &note, next_id);
            let (result, seq, detail) = outcome(&answer);
            if let Some(seq) = seq {
                seqs.push(seq.to_owned());
            }
            if result != "ok" {
                return format!(
                    "{head} outcome={result} seq={} reason={detail:?}",
                    if seqs.is_empty() {
                        "none".to_owned()
                    } else {
                        seqs.join(",")
                    }
                );
            }
        }
        format!("{head} outcome=ok seq={}", seqs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_requests_parse_with_their_timeout() {
        assert_eq!(
            parse(&["kill", "--timeout-ms", "3000", "drill", "end", "of", "day"]).unwrap(),
            (VenueAction::Kill, 3000, "drill end of day".to_owned())
        );
        assert_eq!(
            parse(&["halt"]).unwrap(),
            (VenueAction::Halt, TIMEOUT_MS_DEFAULT, String::new())
        );
        assert!(parse(&["explode"]).unwrap_err().starts_with("usage: venue"));
        assert!(parse(&["kill", "--timeout-ms", "0"])
            .unwrap_err()
            .starts_with("--timeout-ms"));
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn submit_answers_become_outcomes() {
        assert_eq!(outcome("ok seq=17 events=3"), ("ok", Some("17"), ""));
        assert_eq!(
            outcome("rejected seq=18 reason=kill switch active"),
            ("rejected", Some("18"), "kill switch active")
        );
        assert_eq!(
            outcome("error: sequencer busy, try again"),
            ("error", None, "sequencer busy, try again")
        );
    }
}
