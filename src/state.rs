//! The daemon's replayable state, as one value: an engine and the gateway's mapping state
//! ([`FixApp`]: order table and positions) kept in step by applying journal records
//! ([`Replica`]), and the container a snapshot file holds ([`encode_container`]).
//!
//! The snapshot agent follows the live journal with a [`Replica`]; the replay tool
//! (`arbiter-replay snapshot`) builds one from a journal alone. Both write the same
//! container, so a restart cannot tell who wrote a snapshot.
//!
//! Container layout (all little-endian):
//! ```text
//! 0  magic         [u8; 8]  "ARBSTATE"
//! 8  version       u32
//! 12 engine_len    u64
//! 20 gateway_len   u64
//! 28 config_len    u64      u64::MAX: no configuration journaled yet
//! 36 engine bytes, gateway bytes, configuration text
//! ```
//! The snapshot file's digest is the engine digest (u64 LE) padded with zeros to 32 bytes.

use std::fmt;
use std::path::{Path, PathBuf};

use arbiter_config::Config;
use arbiter_engine::wire::{decode_record_origin, RECORD_COMMAND, RECORD_CONFIG, RECORD_DIGEST};
use arbiter_engine::{Command, Engine, Event, EventSink, Seq, TimestampNs};
use arbiter_fix::entitlement::Entitlement;
use arbiter_journal::snapshot::write_snapshot;
use arbiter_journal::{JournalError, RecordView, Sequence};

use crate::fix_app::{FixApp, SessionMapping};
use crate::session_ledger::{SessionMark, RECORD_SESSION};

const CONTAINER_MAGIC: [u8; 8] = *b"ARBSTATE";
const CONTAINER_VERSION: u32 = 1;
const CONTAINER_HEADER_LEN: usize = 8 + 4 + 8 + 8 + 8;
const _: () = assert!(CONTAINER_HEADER_LEN == 36);

/// Applies one journaled command record: the command to `engine`, its events and its
/// origin (session and MsgSeqNum) to `app`. The one way every replay (start-up recovery,
/// the standby, the snapshot agent, the replay tool) rebuilds the gateway's state.
///
/// # Errors
/// The record does not decode (the wire error, as text).
pub fn apply_command_record(
    engine: &mut Engine,
    app: &mut FixApp,
    sequence: u64,
    timestamp_ns: u64,
    payload: &[u8],
) -> Result<(), String> {
    struct Replay<'a> {
        command: Command,
        annotation: &'a [u8],
        app: &'a mut FixApp,
    }
    impl EventSink for Replay<'_> {
        fn emit(&mut self, event: Event) {
            self.app.on_replayed(&self.command, self.annotation, &event);
        }
    }
    let (command, annotation, origin) =
        decode_record_origin(Seq(sequence), TimestampNs(timestamp_ns), payload)
            .map_err(|e| e.to_string())?;
    engine.apply(
        &command,
        &mut Replay {
            command,
            annotation,
            app: &mut *app,
        },
    );
    if let Some(origin) = origin {
        app.on_origin(origin);
    }
    Ok(())
}

/// Applies one journaled FIX session mark to `app`.
///
/// # Errors
/// The payload is not a mark this build reads.
pub fn apply_session_record(app: &mut FixApp, payload: &[u8]) -> Result<(), String> {
    app.on_session_mark(&SessionMark::decode(payload)?);
    Ok(())
}

/// Builds the container: header, engine bytes, gateway bytes, last configuration text.
#[must_use]
pub fn encode_container(engine: &[u8], gateway: &[u8], last_config: Option<&str>) -> Vec<u8> {
    let config = last_config.map_or(&[][..], str::as_bytes);
    let mut out =
        Vec::with_capacity(CONTAINER_HEADER_LEN + engine.len() + gateway.len() + config.len());
    out.extend_from_slice(&CONTAINER_MAGIC);
    out.extend_from_slice(&CONTAINER_VERSION.to_le_bytes());
    out.extend_from_slice(&(engine.len() as u64).to_le_bytes());
    out.extend_from_slice(&(gateway.len() as u64).to_le_bytes());
    // u64::MAX: no configuration record journaled yet.
    let config_len = last_config.map_or(u64::MAX, |c| c.len() as u64);
    out.extend_from_slice(&config_len.to_le_bytes());
    out.extend_from_slice(engine);
    out.extend_from_slice(gateway);
    out.extend_from_slice(config);
    out
}

/// The parts of a container.
#[derive(Debug)]
pub struct Container<'a> {
    /// Engine state.
    pub engine: &'a [u8],
    /// Gateway state.
    pub gateway: &'a [u8],
    /// The last configuration text journaled before the snapshot.
    pub last_config: Option<&'a str>,
}

/// Splits a container.
///
/// # Errors
/// A text when it is not one, or its lengths do not add up.
pub fn decode_container(bytes: &[u8]) -> Result<Container<'_>, String> {
    if bytes.len() < CONTAINER_HEADER_LEN || bytes[..8] != CONTAINER_MAGIC {
        return Err("not an Arbiter state container".to_owned());
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != CONTAINER_VERSION {
        return Err(format!(
            "container version {version}, this build reads {CONTAINER_VERSION}"
        ));
    }
    let (engine_len, gateway_len, config_len) = (word(12), word(20), word(28));
    let config_bytes = if config_len == u64::MAX {
        0
    } else {
        config_len
    };
    let total = (CONTAINER_HEADER_LEN as u64)
        .checked_add(engine_len)
        .and_then(|t| t.checked_add(gateway_len))
        .and_then(|t| t.checked_add(config_bytes));
    if total != Some(bytes.len() as u64) {
        return Err("container lengths do not add up".to_owned());
    }
    let engine_end = CONTAINER_HEADER_LEN + engine_len as usize;
    let gateway_end = engine_end + gateway_len as usize;
    let last_config = if config_len == u64::MAX {
        None
    } else {
        Some(
            std::str::from_utf8(&bytes[gateway_end..])
                .map_err(|_| "configuration text is not UTF-8".to_owned())?,
        )
    };
    Ok(Container {
        engine: &bytes[CONTAINER_HEADER_LEN..engine_end],
        gateway: &bytes[engine_end..gateway_end],
        last_config,
    })
}

/// The snapshot file digest for an engine digest: the u64 LE, then zeros.
#[must_use]
pub fn file_digest(engine_digest: u64) -> [u8; 32] {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&engine_digest.to_le_bytes());
    digest
}

/// The per-session settings the gateway maps with, from the configuration: each session's
/// default account and the accounts of that account's firm.
///
/// # Panics
/// Never for a checked configuration (default accounts exist).
#[must_use]
pub fn session_mappings(config: &Config) -> Vec<SessionMapping> {
    config
        .fix
        .sessions
        .iter()
        .map(|s| {
            // A session may act for its entitled accounts (all of its firm's by default).
            let accounts = config.session_accounts(s);
            let mut entitled = Entitlement::new(config.engine.accounts_max);
            for &(_, id) in &accounts {
                entitled.grant(id);
            }
            SessionMapping {
                default_account: config
                    .account_id(&s.default_account)
                    .expect("checked by the configuration"),
                accounts,
                entitled,
                drop_copy: s.drop_copy,
                firm: config.session_firm(s),
            }
        })
        .collect()
}

/// A fresh gateway mapping for this configuration, exactly as the daemon builds it (the
/// gateway half of what [`Config::engine`] is for the engine).
#[must_use]
pub fn new_gateway(config: &Config) -> FixApp {
    let mut app = FixApp::new(
        config.registry(),
        config
            .instruments
            .iter()
            .map(|i| i.price_decimals)
            .collect(),
        session_mappings(config),
        config.engine.orders_max as usize,
        config.engine.accounts_max as usize,
    );
    app.set_foreign_instruments(config.foreign_refusals());
    app
}

/// What one journal record was to a [`Replica`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A command, applied.
    Command,
    /// A digest record, and it matched.
    Digest,
    /// A configuration record, remembered.
    Config,
    /// Another record type (the journal's own seals, ...), ignored.
    Other,
}

/// Why a [`Replica`] could not apply a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaError {
    /// A record that does not decode.
    Record {
        /// Its sequence.
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
    /// A digest record that differs from the replica's state: the replica no longer holds
    /// the journal's state.
    Divergence {
        /// The digest record's sequence.
        sequence: u64,
        /// The journaled digest.
        journaled: u64,
        /// The replica's.
        replica: u64,
    },
}

impl fmt::Display for ReplicaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaError::Record { sequence, reason } => {
                write!(f, "journal record {sequence}: {reason}")
            }
            ReplicaError::Divergence {
                sequence,
                journaled,
                replica,
            } => write!(
                f,
                "journal record {sequence}: the replica's digest {replica:016x} differs from the \
                 journal's {journaled:016x}"
            ),
        }
    }
}

impl std::error::Error for ReplicaError {}

/// An engine and a gateway mapping that journal records are applied to, plus the last
/// configuration text seen: what a snapshot holds.
#[derive(Debug)]
pub struct Replica {
    /// The engine.
    pub engine: Engine,
    /// The gateway's order table and positions.
    pub app: FixApp,
    /// The last configuration text journaled, if any.
    pub last_config: Option<String>,
}

impl Replica {
    /// A replica of an empty journal under `config`.
    #[must_use]
    pub fn new(config: &Config) -> Replica {
        Replica {
            engine: config.engine(),
            app: new_gateway(config),
            last_config: None,
        }
    }

    /// Restores a snapshot's state (`state`: the container, `digest`: the file's digest)
    /// under `config`, checking that the restored engine's digest is the file's.
    ///
    /// # Errors
    /// A text saying why the snapshot cannot be used: not a container, taken under another
    /// configuration, corrupt, or a digest that differs.
    pub fn restore(config: &Config, state: &[u8], digest: &[u8; 32]) -> Result<Replica, String> {
        let container = decode_container(state)?;
        let engine = Engine::from_snapshot(
            config.engine_config(),
            config.registry(),
            &config.risk_config(),
            container.engine,
        )
        .map_err(|e| e.to_string())?;
        let restored = engine.digest();
        if *digest != file_digest(restored) {
            return Err(format!(
                "the restored engine's digest {restored:016x} differs from the file's"
            ));
        }
        let mut app = new_gateway(config);
        app.restore(container.gateway)?;
        Ok(Replica {
            engine,
            app,
            last_config: container.last_config.map(str::to_owned),
        })
    }

    /// Applies one journal record: a command goes through the engine, its events through
    /// the gateway's replay hook; a digest is compared; a configuration is remembered.
    ///
    /// # Errors
    /// A command that does not decode, a digest that is not 8 bytes or differs.
    pub fn apply(&mut self, record: &RecordView<'_>) -> Result<Step, ReplicaError> {
        let sequence = record.sequence().0;
        match record.record_type().0 {
            RECORD_COMMAND => {
                apply_command_record(
                    &mut self.engine,
                    &mut self.app,
                    sequence,
                    record.timestamp().0,
                    record.payload(),
                )
                .map_err(|reason| ReplicaError::Record { sequence, reason })?;
                Ok(Step::Command)
            }
            RECORD_SESSION => {
                apply_session_record(&mut self.app, record.payload())
                    .map_err(|reason| ReplicaError::Record { sequence, reason })?;
                Ok(Step::Other)
            }
            RECORD_DIGEST => {
                let bytes: [u8; 8] =
                    record
                        .payload()
                        .try_into()
                        .map_err(|_| ReplicaError::Record {
                            sequence,
                            reason: "digest is not 8 bytes".to_owned(),
                        })?;
                let journaled = u64::from_le_bytes(bytes);
                let replica = self.engine.digest();
                if journaled != replica {
                    return Err(ReplicaError::Divergence {
                        sequence,
                        journaled,
                        replica,
                    });
                }
                Ok(Step::Digest)
            }
            RECORD_CONFIG => {
                self.last_config = std::str::from_utf8(record.payload())
                    .ok()
                    .map(str::to_owned);
                Ok(Step::Config)
            }
            _ => Ok(Step::Other),
        }
    }

    /// The container of the current state.
    #[must_use]
    pub fn container(&self) -> Vec<u8> {
        encode_container(
            &self.engine.snapshot_bytes(),
            &self.app.snapshot_bytes(),
            self.last_config.as_deref(),
        )
    }

    /// Writes the current state as the snapshot "state including every record up to
    /// `sequence`" in `dir`; returns the file and the container's size.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_snapshot(
        &self,
        dir: &Path,
        sequence: Sequence,
    ) -> Result<(PathBuf, usize), JournalError> {
        let container = self.container();
        let digest = file_digest(self.engine.digest());
        let path = write_snapshot(dir, sequence, digest, &container)?;
        Ok((path, container.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_round_trips_and_refuses_damage() {
        let bytes = encode_container(b"engine", b"gw", Some("text"));
        let container = decode_container(&bytes).unwrap();
        assert_eq!(container.engine, b"engine");
        assert_eq!(container.gateway, b"gw");
        assert_eq!(container.last_config, Some("text"));
        let none = encode_container(b"e", b"", None);
        assert_eq!(decode_container(&none).unwrap().last_config, None);
        assert!(decode_container(&bytes[..bytes.len() - 1]).is_err());
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(decode_container(&wrong).is_err());
    }

    #[test]
    fn a_fresh_replica_restores_from_its_own_container() {
        let config = Config::default_demo();
        let replica = Replica::new(&config);
        let digest = file_digest(replica.engine.digest());
        let restored = Replica::restore(&config, &replica.container(), &digest).unwrap();
        assert_eq!(restored.engine.digest(), replica.engine.digest());
        let mut other = digest;
        other[31] = 1;
        let refused = Replica::restore(&config, &replica.container(), &other).unwrap_err();
        assert!(refused.contains("digest"), "{refused}");
    }
}
