//! The journal encoding of commands: fixed-layout little-endian bytes, decoded without
//! trusting the input. The sequence number and timestamp travel in the journal's record
//! header, so they are not repeated here.
//!
//! Layout: byte 0 is the [`CommandKind`] tag, then the kind's fields in declaration order,
//! each little-endian, with no padding. [`COMMAND_BYTES_MAX`] bounds every encoding.
//! Tags are stable: add new ones at the end, never renumber.

use crate::command::{CancelOrder, Command, CommandKind, MassCancel, NewOrder, ReplaceOrder};
use crate::risk::{
    ApprovalAction, KillReason, KillScope, LimitKind, OperatorId, RiskCheck, RiskCommand, RiskScope,
};
use crate::types::FirmId;
use crate::types::{
    AccountId, InstrumentId, OrdType, OrderId, Phase, Price, Qty, Seq, SessionId, Side, StpGroup,
    StpMode, StrategyId, TimeInForce, TimestampNs,
};

/// The largest encoded command, in bytes.
pub const COMMAND_BYTES_MAX: usize = 128;

/// Why bytes did not decode into a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended inside a field.
    Truncated,
    /// The tag byte names no command kind.
    UnknownKind(u8),
    /// A field holds a value outside its enum.
    BadField(&'static str, u64),
    /// Bytes were left after the command.
    TrailingBytes(usize),
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Truncated => write!(f, "command truncated"),
            WireError::UnknownKind(tag) => write!(f, "unknown command kind {tag}"),
            WireError::BadField(name, value) => write!(f, "field {name} has invalid value {value}"),
            WireError::TrailingBytes(n) => write!(f, "{n} trailing bytes after command"),
        }
    }
}

impl std::error::Error for WireError {}

const TAG_NEW_ORDER: u8 = 1;
const TAG_CANCEL: u8 = 2;
const TAG_REPLACE: u8 = 3;
const TAG_MASS_CANCEL: u8 = 4;
const TAG_CLOCK: u8 = 5;
const TAG_END_OF_DAY: u8 = 6;
const TAG_SET_PHASE: u8 = 7;
const TAG_RISK_SET_LIMIT: u8 = 8;
const TAG_RISK_SET_REFERENCE_PRICE: u8 = 9;
const TAG_RISK_SET_RESTRICTED: u8 = 10;
const TAG_RISK_KILL: u8 = 11;
const TAG_RISK_CANCEL_ON_DISCONNECT: u8 = 12;
const TAG_RISK_APPROVE: u8 = 13;
const TAG_RISK_REVOKE_BYPASSES: u8 = 14;

struct Writer<'a> {
    buffer: &'a mut [u8; COMMAND_BYTES_MAX],
    position: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.buffer[self.position..self.position + bytes.len()].copy_from_slice(bytes);
        self.position += bytes.len();
    }
    fn u8(&mut self, value: u8) {
        self.bytes(&[value]);
    }
    fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }
    fn i64(&mut self, value: i64) {
        self.bytes(&value.to_le_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let end = self.position + N;
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or(WireError::Truncated)?;
        self.position = end;
        Ok(slice.try_into().expect("length checked"))
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
}

/// Encodes a command's kind into `buffer`, returning the length used.
#[must_use]
pub fn encode(kind: &CommandKind, buffer: &mut [u8; COMMAND_BYTES_MAX]) -> usize {
    let mut w = Writer {
        buffer,
        position: 0,
    };
    match kind {
        CommandKind::NewOrder(o) => {
            w.u8(TAG_NEW_ORDER);
            w.u64(o.order_id.0);
            w.u32(o.instrument.0);
            w.u32(o.account.0);
            w.u32(o.strategy.0);
            w.u32(o.session.0);
            w.u8(o.side as u8);
            w.u8(o.ord_type as u8);
            w.u8(o.tif as u8);
            w.i64(o.price.0);
            w.i64(o.stop_price.0);
            w.u64(o.qty.0);
            w.u64(o.display_qty.0);
            w.u8(u8::from(o.post_only));
            w.u8(o.stp_mode as u8);
            w.u32(o.stp_group.0);
            w.u64(o.expire_time.0);
            w.u64(o.client_ref);
        }
        CommandKind::Cancel(c) => {
            w.u8(TAG_CANCEL);
            w.u64(c.order_id.0);
            w.u32(c.account.0);
            w.u32(c.session.0);
        }
        CommandKind::Replace(r) => {
            w.u8(TAG_REPLACE);
            w.u64(r.order_id.0);
            w.u32(r.account.0);
            w.u32(r.session.0);
            w.i64(r.price.0);
            w.i64(r.stop_price.0);
            w.u64(r.qty.0);
            w.u64(r.client_ref);
        }
        CommandKind::MassCancel(m) => {
            w.u8(TAG_MASS_CANCEL);
            w.u32(m.account.0);
            w.u32(m.instrument.map_or(u32::MAX, |i| i.0));
            w.u8(m.side.map_or(0, |s| s as u8));
            w.u32(m.session.0);
        }
        CommandKind::Clock => w.u8(TAG_CLOCK),
        CommandKind::EndOfDay => w.u8(TAG_END_OF_DAY),
        CommandKind::SetPhase { instrument, phase } => {
            w.u8(TAG_SET_PHASE);
            w.u32(instrument.0);
            w.u8(*phase as u8);
        }
        CommandKind::Risk(risk) => encode_risk(&mut w, risk),
    }
    w.position
}

/// Decodes a command journaled with the given sequence number and timestamp.
///
/// # Errors
/// [`WireError`] when the bytes are not a whole, valid command.
pub fn decode(seq: Seq, timestamp: TimestampNs, bytes: &[u8]) -> Result<Command, WireError> {
    let mut r = Reader { bytes, position: 0 };
    let kind = match r.u8()? {
        TAG_NEW_ORDER => CommandKind::NewOrder(NewOrder {
            order_id: OrderId(r.u64()?),
            instrument: InstrumentId(r.u32()?),
            account: AccountId(r.u32()?),
            strategy: StrategyId(r.u32()?),
            session: SessionId(r.u32()?),
            side: side(r.u8()?)?,
            ord_type: ord_type(r.u8()?)?,
            tif: tif(r.u8()?)?,
            price: Price(r.i64()?),
            stop_price: Price(r.i64()?),
            qty: Qty(r.u64()?),
            display_qty: Qty(r.u64()?),
            post_only: boolean(r.u8()?)?,
            stp_mode: stp_mode(r.u8()?)?,
            stp_group: StpGroup(r.u32()?),
            expire_time: TimestampNs(r.u64()?),
            client_ref: r.u64()?,
        }),
        TAG_CANCEL => CommandKind::Cancel(CancelOrder {
            order_id: OrderId(r.u64()?),
            account: AccountId(r.u32()?),
            session: SessionId(r.u32()?),
        }),
        TAG_REPLACE => CommandKind::Replace(ReplaceOrder {
            order_id: OrderId(r.u64()?),
            account: AccountId(r.u32()?),
            session: SessionId(r.u32()?),
            price: Price(r.i64()?),
            stop_price: Price(r.i64()?),
            qty: Qty(r.u64()?),
            client_ref: r.u64()?,
        }),
        TAG_MASS_CANCEL => CommandKind::MassCancel(MassCancel {
            account: AccountId(r.u32()?),
            instrument: match r.u32()? {
                u32::MAX => None,
                id => Some(InstrumentId(id)),
            },
            side: match r.u8()? {
                0 => None,
                value => Some(side(value)?),
            },
            session: SessionId(r.u32()?),
        }),
        TAG_CLOCK => CommandKind::Clock,
        TAG_END_OF_DAY => CommandKind::EndOfDay,
        TAG_SET_PHASE => CommandKind::SetPhase {
            instrument: InstrumentId(r.u32()?),
            phase: phase(r.u8()?)?,
        },
        TAG_RISK_SET_LIMIT => CommandKind::Risk(RiskCommand::SetLimit {
            operator: OperatorId(r.u32()?),
            scope: risk_scope(&mut r)?,
            instrument: match r.u32()? {
                u32::MAX => None,
                id => Some(InstrumentId(id)),
            },
            kind: {
                let value = r.u8()?;
                LimitKind::from_u8(value).ok_or(WireError::BadField("limit_kind", value.into()))?
            },
            value: r.u64()?,
        }),
        TAG_RISK_SET_REFERENCE_PRICE => CommandKind::Risk(RiskCommand::SetReferencePrice {
            operator: OperatorId(r.u32()?),
            instrument: InstrumentId(r.u32()?),
            price: Price(r.i64()?),
        }),
        TAG_RISK_SET_RESTRICTED => CommandKind::Risk(RiskCommand::SetRestricted {
            operator: OperatorId(r.u32()?),
            account: AccountId(r.u32()?),
            instrument: InstrumentId(r.u32()?),
            restricted: boolean(r.u8()?)?,
        }),
        TAG_RISK_KILL => CommandKind::Risk(RiskCommand::Kill {
            operator: OperatorId(r.u32()?),
            scope: kill_scope(&mut r)?,
            reason: {
                let value = r.u8()?;
                KillReason::from_u8(value)
                    .ok_or(WireError::BadField("kill_reason", value.into()))?
            },
        }),
        TAG_RISK_CANCEL_ON_DISCONNECT => CommandKind::Risk(RiskCommand::CancelOnDisconnect {
            session: SessionId(r.u32()?),
        }),
        TAG_RISK_APPROVE => CommandKind::Risk(RiskCommand::Approve {
            operator: OperatorId(r.u32()?),
            action: match r.u8()? {
                0 => ApprovalAction::Release(kill_scope(&mut r)?),
                1 => ApprovalAction::Bypass {
                    account: AccountId(r.u32()?),
                    check: {
                        let value = r.u8()?;
                        RiskCheck::from_u8(value)
                            .ok_or(WireError::BadField("risk_check", value.into()))?
                    },
                },
                value => return Err(WireError::BadField("approval_action", value.into())),
            },
        }),
        TAG_RISK_REVOKE_BYPASSES => CommandKind::Risk(RiskCommand::RevokeBypasses {
            operator: OperatorId(r.u32()?),
            account: AccountId(r.u32()?),
        }),
        tag => return Err(WireError::UnknownKind(tag)),
    };
    if r.position != bytes.len() {
        return Err(WireError::TrailingBytes(bytes.len() - r.position));
    }
    Ok(Command::new(seq, timestamp, kind))
}

/// Record type of a journaled command.
pub const RECORD_COMMAND: u16 = 1;
/// Record type of a periodic state digest: the engine's digest (8 bytes, little-endian) after
/// every command up to the previous record; replay checks it.
pub const RECORD_DIGEST: u16 = 2;

/// Record type of the venue configuration (TOML text) in force from this record on.
/// The daemon writes one at start-up when the text changed; the replay tool builds its
/// engine from it.
pub const RECORD_CONFIG: u16 = 3;

/// The longest annotation a journal record carries beside its command.
pub const ANNOTATION_BYTES_MAX: usize = 64;

/// Encodes a journal record payload: `[command length: u8][command][annotation]`.
///
/// The annotation is opaque to the engine (the gateway keeps the FIX ClOrdID there, so that
/// auditors see it and a restarted gateway can map client ids to orders again).
///
/// # Panics
/// If `annotation` is longer than [`ANNOTATION_BYTES_MAX`] or `buffer` too short.
#[must_use]
pub fn encode_record(kind: &CommandKind, annotation: &[u8], buffer: &mut [u8]) -> usize {
    assert!(
        annotation.len() <= ANNOTATION_BYTES_MAX,
        "annotation too long"
    );
    let mut command = [0u8; COMMAND_BYTES_MAX];
    let len = encode(kind, &mut command);
    buffer[0] = u8::try_from(len).expect("COMMAND_BYTES_MAX fits a byte");
    buffer[1..=len].copy_from_slice(&command[..len]);
    buffer[1 + len..1 + len + annotation.len()].copy_from_slice(annotation);
    1 + len + annotation.len()
}

/// Decodes a journal record payload into its command and annotation (without its
/// [`RecordOrigin`] trailer, if it has one: see [`decode_record_origin`]).
///
/// # Errors
/// [`WireError`] when the payload is not a whole, valid record.
pub fn decode_record(
    seq: Seq,
    timestamp: TimestampNs,
    payload: &[u8],
) -> Result<(Command, &[u8]), WireError> {
    decode_record_origin(seq, timestamp, payload)
        .map(|(command, annotation, _)| (command, annotation))
}

/// Decodes a journal record payload into its command, its annotation and, when the
/// annotation ends with one, the [`RecordOrigin`] trailer.
///
/// # Errors
/// [`WireError`] when the payload is not a whole, valid record.
pub fn decode_record_origin(
    seq: Seq,
    timestamp: TimestampNs,
    payload: &[u8],
) -> Result<(Command, &[u8], Option<RecordOrigin>), WireError> {
    let (&len, rest) = payload.split_first().ok_or(WireError::Truncated)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(WireError::Truncated);
    }
    let (command, annotation) = rest.split_at(len);
    if annotation.len() > ANNOTATION_BYTES_MAX {
        return Err(WireError::TrailingBytes(annotation.len()));
    }
    let (annotation, origin) = split_origin(annotation);
    Ok((decode(seq, timestamp, command)?, annotation, origin))
}

/// Where a gateway command came from: the FIX session (its index in the configuration) and
/// the MsgSeqNum (34) of the message that carried it. Journaled so that a node that
/// rebuilds the state (a restart, a standby taking over) knows each session's inbound
/// sequence number without the per-node FIX store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordOrigin {
    /// Session index.
    pub session: u32,
    /// The inbound message's MsgSeqNum.
    pub msg_seq: u64,
}

/// Bytes of the origin trailer at the end of an annotation: `0x01 'O'`, the session (u32
/// LE), the MsgSeqNum (u64 LE). 0x01 (SOH) never occurs in a FIX ClOrdID, which is all a
/// gateway annotation holds before it.
pub const ORIGIN_TRAILER_BYTES: usize = 14;
const ORIGIN_MARK: [u8; 2] = [0x01, b'O'];

/// Writes `annotation` followed by `origin`'s trailer into `out`; returns the length, or
/// `None` when the two do not fit [`ANNOTATION_BYTES_MAX`] (or `out`).
#[must_use]
pub fn annotation_with_origin(
    annotation: &[u8],
    origin: RecordOrigin,
    out: &mut [u8],
) -> Option<usize> {
    let len = annotation.len() + ORIGIN_TRAILER_BYTES;
    if len > ANNOTATION_BYTES_MAX || len > out.len() {
        return None;
    }
    let (head, trailer) = out[..len].split_at_mut(annotation.len());
    head.copy_from_slice(annotation);
    trailer[..2].copy_from_slice(&ORIGIN_MARK);
    trailer[2..6].copy_from_slice(&origin.session.to_le_bytes());
    trailer[6..].copy_from_slice(&origin.msg_seq.to_le_bytes());
    Some(len)
}

/// Splits an annotation into what precedes the origin trailer and the origin (none when
/// it has no trailer: older journals, admin and clock commands).
#[must_use]
pub fn split_origin(annotation: &[u8]) -> (&[u8], Option<RecordOrigin>) {
    let Some(split) = annotation.len().checked_sub(ORIGIN_TRAILER_BYTES) else {
        return (annotation, None);
    };
    let (head, trailer) = annotation.split_at(split);
    if trailer[..2] != ORIGIN_MARK {
        return (annotation, None);
    }
    let session = u32::from_le_bytes(trailer[2..6].try_into().expect("4 bytes"));
    let msg_seq = u64::from_le_bytes(trailer[6..].try_into().expect("8 bytes"));
    (head, Some(RecordOrigin { session, msg_seq }))
}

fn side(value: u8) -> Result<Side, WireError> {
    match value {
        1 => Ok(Side::Buy),
        2 => Ok(Side::Sell),
        _ => Err(WireError::BadField("side", value.into())),
    }
}

fn ord_type(value: u8) -> Result<OrdType, WireError> {
    match value {
        1 => Ok(OrdType::Limit),
        2 => Ok(OrdType::Market),
        3 => Ok(OrdType::Stop),
        4 => Ok(OrdType::StopLimit),
        _ => Err(WireError::BadField("ord_type", value.into())),
    }
}

fn tif(value: u8) -> Result<TimeInForce, WireError> {
    match value {
        0 => Ok(TimeInForce::Day),
        1 => Ok(TimeInForce::Gtc),
        3 => Ok(TimeInForce::Ioc),
        4 => Ok(TimeInForce::Fok),
        6 => Ok(TimeInForce::Gtd),
        _ => Err(WireError::BadField("tif", value.into())),
    }
}

fn stp_mode(value: u8) -> Result<StpMode, WireError> {
    match value {
        0 => Ok(StpMode::Off),
        1 => Ok(StpMode::CancelResting),
        2 => Ok(StpMode::CancelAggressor),
        3 => Ok(StpMode::CancelBoth),
        4 => Ok(StpMode::DecrementAndCancel),
        _ => Err(WireError::BadField("stp_mode", value.into())),
    }
}

fn phase(value: u8) -> Result<Phase, WireError> {
    match value {
        0 => Ok(Phase::Closed),
        1 => Ok(Phase::Halted),
        2 => Ok(Phase::Continuous),
        _ => Err(WireError::BadField("phase", value.into())),
    }
}

fn encode_risk(w: &mut Writer<'_>, risk: &RiskCommand) {
    match *risk {
        RiskCommand::SetLimit {
            operator,
            scope,
            instrument,
            kind,
            value,
        } => {
            w.u8(TAG_RISK_SET_LIMIT);
            w.u32(operator.0);
            let (tag, id) = risk_scope_parts(scope);
            w.u8(tag);
            w.u32(id);
            w.u32(instrument.map_or(u32::MAX, |i| i.0));
            w.u8(kind as u8);
            w.u64(value);
        }
        RiskCommand::SetReferencePrice {
            operator,
            instrument,
            price,
        } => {
            w.u8(TAG_RISK_SET_REFERENCE_PRICE);
            w.u32(operator.0);
            w.u32(instrument.0);
            w.i64(price.0);
        }
        RiskCommand::SetRestricted {
            operator,
            account,
            instrument,
            restricted,
        } => {
            w.u8(TAG_RISK_SET_RESTRICTED);
            w.u32(operator.0);
            w.u32(account.0);
            w.u32(instrument.0);
            w.u8(u8::from(restricted));
        }
        RiskCommand::Kill {
            operator,
            scope,
            reason,
        } => {
            w.u8(TAG_RISK_KILL);
            w.u32(operator.0);
            write_kill_scope(w, scope);
            w.u8(reason as u8);
        }
        RiskCommand::CancelOnDisconnect { session } => {
            w.u8(TAG_RISK_CANCEL_ON_DISCONNECT);
            w.u32(session.0);
        }
        RiskCommand::Approve { operator, action } => {
            w.u8(TAG_RISK_APPROVE);
            w.u32(operator.0);
            match action {
                ApprovalAction::Release(scope) => {
                    w.u8(0);
                    write_kill_scope(w, scope);
                }
                ApprovalAction::Bypass { account, check } => {
                    w.u8(1);
                    w.u32(account.0);
                    w.u8(check as u8);
                }
            }
        }
        RiskCommand::RevokeBypasses { operator, account } => {
            w.u8(TAG_RISK_REVOKE_BYPASSES);
            w.u32(operator.0);
            w.u32(account.0);
        }
    }
}

fn risk_scope_parts(scope: RiskScope) -> (u8, u32) {
    match scope {
        RiskScope::Global => (0, 0),
        RiskScope::Firm(f) => (1, f.0),
        RiskScope::Account(a) => (2, a.0),
        RiskScope::Strategy(s) => (3, s.0),
        RiskScope::Session(x) => (4, x.0),
    }
}

fn risk_scope(r: &mut Reader<'_>) -> Result<RiskScope, WireError> {
    let tag = r.u8()?;
    let id = r.u32()?;
    Ok(match tag {
        0 if id == 0 => RiskScope::Global,
        1 => RiskScope::Firm(FirmId(id)),
        2 => RiskScope::Account(AccountId(id)),
        3 => RiskScope::Strategy(StrategyId(id)),
        4 => RiskScope::Session(SessionId(id)),
        _ => return Err(WireError::BadField("risk_scope", tag.into())),
    })
}

fn write_kill_scope(w: &mut Writer<'_>, scope: KillScope) {
    let (tag, id) = crate::risk::state::kill_scope_parts(scope);
    w.u8(tag);
    w.u32(id);
}

fn kill_scope(r: &mut Reader<'_>) -> Result<KillScope, WireError> {
    let tag = r.u8()?;
    let id = r.u32()?;
    Ok(match tag {
        0 if id == 0 => KillScope::Global,
        1 => KillScope::Instrument(InstrumentId(id)),
        2 => KillScope::Account(AccountId(id)),
        3 => KillScope::Strategy(StrategyId(id)),
        4 => KillScope::Session(SessionId(id)),
        _ => return Err(WireError::BadField("kill_scope", tag.into())),
    })
}

fn boolean(value: u8) -> Result<bool, WireError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(WireError::BadField("bool", value.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_kind() -> impl Strategy<Value = CommandKind> {
        let new_order = (
            any::<u64>(),
            any::<u32>(),
            1u8..=2,
            1u8..=4,
            prop::sample::select(vec![0u8, 1, 3, 4, 6]),
            any::<i64>(),
            any::<u64>(),
            any::<bool>(),
            0u8..=4,
            any::<u64>(),
        )
            .prop_map(|(id, inst, s, t, f, p, q, po, stp, cr)| {
                CommandKind::NewOrder(NewOrder {
                    order_id: OrderId(id),
                    instrument: InstrumentId(inst),
                    account: AccountId(inst / 3),
                    strategy: StrategyId(inst / 5),
                    session: SessionId(inst / 7),
                    side: side(s).unwrap(),
                    ord_type: ord_type(t).unwrap(),
                    tif: tif(f).unwrap(),
                    price: Price(p),
                    stop_price: Price(p / 2),
                    qty: Qty(q),
                    display_qty: Qty(q / 3),
                    post_only: po,
                    stp_mode: stp_mode(stp).unwrap(),
                    stp_group: StpGroup(inst ^ 7),
                    expire_time: TimestampNs(q ^ 11),
                    client_ref: cr,
                })
            });
        prop_oneof![
            new_order,
            (any::<u64>(), any::<u32>()).prop_map(|(id, a)| CommandKind::Cancel(CancelOrder {
                order_id: OrderId(id),
                account: AccountId(a),
                session: SessionId(a / 2)
            })),
            (any::<u64>(), any::<i64>(), any::<u64>()).prop_map(|(id, p, q)| CommandKind::Replace(
                ReplaceOrder {
                    order_id: OrderId(id),
                    account: AccountId(3),
                    session: SessionId(4),
                    price: Price(p),
                    stop_price: Price(-p / 3),
                    qty: Qty(q),
                    client_ref: q ^ 5
                }
            )),
            (any::<u32>(), any::<Option<u32>>(), any::<Option<bool>>()).prop_map(|(a, i, s)| {
                CommandKind::MassCancel(MassCancel {
                    account: AccountId(a),
                    instrument: i.filter(|&i| i != u32::MAX).map(InstrumentId),
                    side: s.map(|b| if b { Side::Buy } else { Side::Sell }),
                    session: SessionId(9),
                })
            }),
            Just(CommandKind::Clock),
            Just(CommandKind::EndOfDay),
            (any::<u32>(), 0u8..=2).prop_map(|(i, p)| CommandKind::SetPhase {
                instrument: InstrumentId(i),
                phase: phase(p).unwrap()
            }),
            arb_risk().prop_map(CommandKind::Risk),
        ]
    }

    fn arb_kill_scope() -> impl Strategy<Value = KillScope> {
        prop_oneof![
            Just(KillScope::Global),
            any::<u32>().prop_map(|i| KillScope::Instrument(InstrumentId(i))),
            any::<u32>().prop_map(|a| KillScope::Account(AccountId(a))),
            any::<u32>().prop_map(|s| KillScope::Strategy(StrategyId(s))),
            any::<u32>().prop_map(|x| KillScope::Session(SessionId(x))),
        ]
    }

    fn arb_risk() -> impl Strategy<Value = RiskCommand> {
        let scope = prop_oneof![
            Just(RiskScope::Global),
            any::<u32>().prop_map(|f| RiskScope::Firm(FirmId(f))),
            any::<u32>().prop_map(|a| RiskScope::Account(AccountId(a))),
            any::<u32>().prop_map(|s| RiskScope::Strategy(StrategyId(s))),
            any::<u32>().prop_map(|x| RiskScope::Session(SessionId(x))),
        ];
        let reasons = prop::sample::select(vec![0u8, 1, 2, 3, 4, 5, 16, 17, 18, 19]);
        let action = prop_oneof![
            arb_kill_scope().prop_map(ApprovalAction::Release),
            (any::<u32>(), 0u8..=7).prop_map(|(a, c)| ApprovalAction::Bypass {
                account: AccountId(a),
                check: RiskCheck::from_u8(c).unwrap(),
            }),
        ];
        prop_oneof![
            (
                any::<u32>(),
                scope,
                any::<Option<u32>>(),
                1u8..=10,
                any::<u64>()
            )
                .prop_map(|(o, scope, i, k, value)| RiskCommand::SetLimit {
                    operator: OperatorId(o),
                    scope,
                    instrument: i.filter(|&i| i != u32::MAX).map(InstrumentId),
                    kind: LimitKind::from_u8(k).unwrap(),
                    value,
                }),
            (any::<u32>(), any::<u32>(), any::<i64>()).prop_map(|(o, i, p)| {
                RiskCommand::SetReferencePrice {
                    operator: OperatorId(o),
                    instrument: InstrumentId(i),
                    price: Price(p),
                }
            }),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>()).prop_map(
                |(o, a, i, restricted)| RiskCommand::SetRestricted {
                    operator: OperatorId(o),
                    account: AccountId(a),
                    instrument: InstrumentId(i),
                    restricted,
                }
            ),
            (any::<u32>(), arb_kill_scope(), reasons).prop_map(|(o, scope, r)| {
                RiskCommand::Kill {
                    operator: OperatorId(o),
                    scope,
                    reason: KillReason::from_u8(r).unwrap(),
                }
            }),
            any::<u32>().prop_map(|x| RiskCommand::CancelOnDisconnect {
                session: SessionId(x)
            }),
            (any::<u32>(), action).prop_map(|(o, action)| RiskCommand::Approve {
                operator: OperatorId(o),
                action,
            }),
            (any::<u32>(), any::<u32>()).prop_map(|(o, a)| RiskCommand::RevokeBypasses {
                operator: OperatorId(o),
                account: AccountId(a),
            }),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(kind in arb_kind(), seq in any::<u64>(), ts in any::<u64>()) {
            let mut buffer = [0u8; COMMAND_BYTES_MAX];
            let len = encode(&kind, &mut buffer);
            let command = decode(Seq(seq), TimestampNs(ts), &buffer[..len]).unwrap();
            prop_assert_eq!(command, Command::new(Seq(seq), TimestampNs(ts), kind));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..140)) {
            let _ = decode(Seq(1), TimestampNs(1), &bytes);
        }
    }

    #[test]
    fn origin_trailer_round_trips_and_old_annotations_have_none() {
        let origin = RecordOrigin {
            session: 7,
            msg_seq: 123_456_789,
        };
        let mut annotation = [0u8; ANNOTATION_BYTES_MAX];
        let len = annotation_with_origin(b"CLORD-7", origin, &mut annotation).unwrap();
        let mut buffer = [0u8; 256];
        let kind = CommandKind::Clock;
        let n = encode_record(&kind, &annotation[..len], &mut buffer);
        let (_, text, found) = decode_record_origin(Seq(4), TimestampNs(5), &buffer[..n]).unwrap();
        assert_eq!((text, found), (&b"CLORD-7"[..], Some(origin)));
        // The plain decoder hides the trailer.
        let (_, text) = decode_record(Seq(4), TimestampNs(5), &buffer[..n]).unwrap();
        assert_eq!(text, b"CLORD-7");
        assert_eq!(
            split_origin(b"plain note, long enough to hold 14"),
            (&b"plain note, long enough to hold 14"[..], None)
        );
        assert_eq!(split_origin(b"short"), (&b"short"[..], None));
        // Too long to carry a trailer: refused, not cut.
        assert!(annotation_with_origin(&[b'x'; 51], origin, &mut annotation).is_none());
    }

    #[test]
    fn record_carries_its_annotation() {
        let mut buffer = [0u8; 1 + COMMAND_BYTES_MAX + ANNOTATION_BYTES_MAX];
        let kind = CommandKind::Cancel(CancelOrder::default());
        let len = encode_record(&kind, b"CLORD-7", &mut buffer);
        let (command, annotation) = decode_record(Seq(4), TimestampNs(5), &buffer[..len]).unwrap();
        assert_eq!(command.kind, kind);
        assert_eq!(annotation, b"CLORD-7");
        assert!(decode_record(Seq(4), TimestampNs(5), &buffer[..3]).is_err());
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut buffer = [0u8; COMMAND_BYTES_MAX];
        let len = encode(&CommandKind::NewOrder(NewOrder::default()), &mut buffer);
        for cut in 0..len {
            assert!(decode(Seq(1), TimestampNs(1), &buffer[..cut]).is_err());
        }
    }
}
