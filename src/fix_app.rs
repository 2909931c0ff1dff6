//! FIX ⇄ engine: turns application messages into sequencer requests, and engine events into
//! ExecutionReports, OrderCancelRejects and OrderMassCancelReports.

use std::collections::VecDeque;

use arbiter_engine::{
    AccountId, CancelOrder, CancelReason, CommandKind, Event, InstrumentId, InstrumentRegistry,
    MassCancel, NewOrder, OrdType, OrderId, Price, Qty, RejectReason, RejectedKind, ReplaceOrder,
    Seq, SessionId, Side, StrategyId, TimeInForce, TimestampNs,
};
use arbiter_fix::entitlement::{AccountNames, Entitlement};
use arbiter_fix::{Message, MessageBuilder, TimestampPrecision};

use crate::messages::{Annotation, Request};

pub mod report;
use crate::order_table::{ClientId, OrderRecord, OrderTable};
use crate::session_ledger::{SessionLedger, SessionMark};
use arbiter_engine::wire::RecordOrigin;

/// Requests waiting for their events, oldest first. Bounded: the gateway stops reading
/// sockets when it is full.
pub const PENDING_MAX: usize = 65_536;

/// Sends one application message on a session. Returns false when the session cannot take
/// it (not logged on, or its queue is full and it is being disconnected).
pub trait FixSender {
    /// Encodes with `fill` and sends.
    fn send_app(
        &mut self,
        session: u32,
        msg_type: &[u8],
        fill: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool;
}

/// Per-session settings the mapping needs.
#[derive(Clone, Debug)]
pub struct SessionMapping {
    /// Account used when a message carries no Account (1).
    pub default_account: u32,
    /// Accounts this session may act for, by FIX name (its entitlement).
    pub accounts: Vec<(String, u32)>,
    /// The same accounts as a bitset over account ids: the check every request passes.
    pub entitled: Entitlement,
    /// A drop-copy session only receives: a copy of every ExecutionReport of its firm.
    pub drop_copy: bool,
    /// The firm the session belongs to.
    pub firm: u32,
}

#[derive(Clone, Copy, Debug)]
enum PendingKind {
    New,
    Cancel { orig: ClientId },
    Replace { orig: ClientId },
    MassCancel { request_type: u8 },
}

/// A request sent to the sequencer whose events have not all come back.
#[derive(Clone, Copy, Debug)]
struct Pending {
    request_id: u64,
    session: u32,
    client_id: ClientId,
    kind: PendingKind,
}

/// The mapping state of one gateway.
#[derive(Debug)]
pub struct FixApp {
    instruments: InstrumentRegistry,
    price_decimals: Vec<u32>,
    sessions: Vec<SessionMapping>,
    /// Gateway-side order state.
    pub orders: OrderTable,
    pending: VecDeque<Pending>,
    next_request_id: u64,
    exec_seq: Seq,
    exec_counter: u32,
    /// Reports the gateway answers itself (refusals before the sequencer, status of unknown
    /// orders) are numbered apart from the journal's: "G<start>-<n>".
    local_exec_ids: u64,
    local_exec_prefix: u64,
    /// Net position per (account, instrument) from trades, for RequestForPositions.
    positions: Vec<i64>,
    instruments_count: usize,
    position_reports: u64,
    /// The sessions' sequence numbers as replay found them in the journal.
    sessions_journaled: SessionLedger,
    /// Refusals go to the access trail too (with the sessions' CompIDs); `None`: not kept.
    access: Option<(arbiter_journal::trail::AccessTrail, Vec<String>)>,
    /// The names of every account some session is entitled to; any other name is refused
    /// as not entitled, exactly like an entitled-elsewhere one.
    account_names: AccountNames,
    /// By instrument index: why this shard refuses it (another shard trades it), `None`
    /// for its own instruments. Texts made at start-up, so a refusal formats nothing.
    foreign: Vec<Option<Box<str>>>,
}

/// The refusal of a request for an account the session is not entitled to. It names
/// nothing: not whether the account exists, nor whose it is.
const NOT_ENTITLED: LocalReject = LocalReject::Order {
    reason: 15,
    text: NOT_ENTITLED_TEXT,
};
const NOT_ENTITLED_TEXT: &str = "not entitled";

/// Format version of [`FixApp::snapshot_bytes`]; version 1 (without the session ledger)
/// is still read.
const GATEWAY_SNAPSHOT_VERSION: u32 = 2;

#[derive(serde::Serialize, serde::Deserialize)]
struct GatewayImage {
    version: u32,
    orders: crate::order_table::OrderTableImage,
    instruments_count: u64,
    positions: Vec<i64>,
    sessions: SessionLedger,
}

/// [`GatewayImage`] before the session ledger (snapshots of journals that had no marks).
#[derive(serde::Deserialize)]
struct GatewayImageV1 {
    version: u32,
    orders: crate::order_table::OrderTableImage,
    instruments_count: u64,
    positions: Vec<i64>,
}

fn decode_gateway_image(bytes: &[u8]) -> Result<GatewayImage, String> {
    if let Ok(image) = bincode::deserialize::<GatewayImage>(bytes) {
        if image.version == GATEWAY_SNAPSHOT_VERSION {
            return Ok(image);
        }
    }
    let old: GatewayImageV1 =
        bincode::deserialize(bytes).map_err(|e| format!("gateway snapshot: {e}"))?;
    if old.version != 1 {
        return Err(format!(
            "gateway snapshot version {}, this build reads 1 and {GATEWAY_SNAPSHOT_VERSION}",
            old.version
        ));
    }
    Ok(GatewayImage {
        version: old.version,
        orders: old.orders,
        instruments_count: old.instruments_count,
        positions: old.positions,
        sessions: SessionLedger::default(),
    })
}

/// Reasons the gateway refuses a message before it reaches the sequencer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocalReject {
    Business {
        ref_tag: u32,
        reason: u32,
        text: &'static str,
    },
    Order {
        reason: u32,
        text: &'static str,
    },
    /// An instrument another shard trades: refused like an unknown symbol, with a text
    /// naming that shard.
    Foreign {
        instrument: InstrumentId,
    },
}

impl FixApp {
    /// A mapping for these instruments (with their price decimals) and sessions.
    #[must_use]
    pub fn new(
        instruments: InstrumentRegistry,
        price_decimals: Vec<u32>,
        sessions: Vec<SessionMapping>,
        orders_max: usize,
        accounts_max: usize,
    ) -> Self {
        let instruments_count = instruments.len();
        let account_names = AccountNames::new(
            sessions
                .iter()
                .flat_map(|s| s.accounts.iter().map(|(name, id)| (name.as_str(), *id))),
            u32::try_from(accounts_max).unwrap_or(u32::MAX),
        );
        FixApp {
            account_names,
            instruments,
            price_decimals,
            sessions,
            orders: OrderTable::with_capacity(orders_max),
            pending: VecDeque::with_capacity(PENDING_MAX),
            next_request_id: 1,
            exec_seq: Seq(0),
            exec_counter: 0,
            local_exec_ids: 0,
            positions: vec![0; accounts_max * instruments_count],
            instruments_count,
            position_reports: 0,
            sessions_journaled: SessionLedger::default(),
            access: None,
            foreign: Vec::new(),
            local_exec_prefix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// The state replay rebuilds (order table and positions), for a snapshot: what
    /// [`FixApp::restore`] loads instead of replaying the records before the snapshot.
    #[must_use]
    pub fn snapshot_bytes(&self) -> Vec<u8> {
        bincode::serialize(&GatewayImage {
            version: GATEWAY_SNAPSHOT_VERSION,
            orders: self.orders.image(),
            instruments_count: self.instruments_count as u64,
            positions: self.positions.clone(),
            sessions: self.sessions_journaled.clone(),
        })
        .expect("gateway state serializes")
    }

    /// Loads [`FixApp::snapshot_bytes`] into this freshly built app (same instruments and
    /// capacities); tables keep their preallocated capacity.
    ///
    /// # Errors
    /// A text when the bytes do not decode or were taken under another configuration.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let image = decode_gateway_image(bytes)?;
        if image.instruments_count != self.instruments_count as u64
            || image.positions.len() != self.positions.len()
        {
            return Err("gateway snapshot: instruments or accounts differ".to_owned());
        }
        self.orders.restore(image.orders)?;
        self.positions.copy_from_slice(&image.positions);
        self.sessions_journaled = image.sessions;
        Ok(())
    }

    /// A replayed session mark (record type [`crate::session_ledger::RECORD_SESSION`]).
    pub fn on_session_mark(&mut self, mark: &SessionMark) {
        self.sessions_journaled.on_mark(mark);
    }

    /// A replayed command's origin (its session and MsgSeqNum).
    pub fn on_origin(&mut self, origin: RecordOrigin) {
        self.sessions_journaled.on_origin(origin);
    }

    /// The sessions' sequence numbers as the journal knows them.
    #[must_use]
    pub fn sessions_journaled(&self) -> &SessionLedger {
        &self.sessions_journaled
    }

    /// Sharded venues: the refusal text of every instrument another shard trades, by
    /// instrument index (`None`: this shard's own; see `Config::foreign_refusals`). Orders,
    /// cancels, replaces and mass cancels naming such an instrument are refused here and
    /// never journaled.
    pub fn set_foreign_instruments(&mut self, refusals: Vec<Option<String>>) {
        self.foreign = if refusals.iter().all(Option::is_none) {
            Vec::new() // every instrument is this shard's: nothing to check
        } else {
            refusals
                .into_iter()
                .map(|text| text.map(String::into_boxed_str))
                .collect()
        };
    }

    /// The refusal of an instrument another shard trades, if it is one.
    fn foreign_text(&self, instrument: InstrumentId) -> Option<&str> {
        self.foreign
            .get(instrument.0 as usize)
            .and_then(|text| text.as_deref())
    }

    /// Refuses a message naming another shard's instrument as an unknown symbol is
    /// refused (ExecutionReport, or OrderCancelReject for a cancel or replace).
    fn refuse_foreign(
        &mut self,
        session: u32,
        msg: &Message<'_>,
        instrument: InstrumentId,
        out: &mut dyn FixSender,
    ) {
        // Taken out and put back (no allocation) so the text can be borrowed while the
        // reject counts its local ExecIDs.
        let foreign = std::mem::take(&mut self.foreign);
        let text = foreign
            .get(instrument.0 as usize)
            .and_then(|text| text.as_deref())
            .unwrap_or("instrument traded on another shard");
        self.local_order_reject(session, msg, 1, text, out);
        self.foreign = foreign;
    }

    /// A Symbol (55) the message carries that another shard trades: refused before the
    /// order it refers to is looked up (that order lives on the other shard).
    fn check_symbol_shard(&self, msg: &Message<'_>) -> Result<(), LocalReject> {
        if self.foreign.is_empty() {
            return Ok(()); // not sharded: no symbol lookup on a cancel or replace
        }
        let Some(symbol) = msg.get(55) else {
            return Ok(());
        };
        match self
            .instruments
            .iter()
            .find(|i| i.symbol.as_bytes() == symbol)
        {
            Some(i) if self.foreign_text(i.id).is_some() => {
                Err(LocalReject::Foreign { instrument: i.id })
            }
            _ => Ok(()),
        }
    }

    /// Writes every refusal to `trail`, naming the session by `comp_ids[session]`.
    pub fn set_access_trail(
        &mut self,
        trail: arbiter_journal::trail::AccessTrail,
        comp_ids: Vec<String>,
    ) {
        self.access = Some((trail, comp_ids));
    }

    /// The access-trail hook of every refusal answered here (off the accepted-order path:
    /// it formats strings).
    fn trail_refusal(&self, session: u32, msg: &Message<'_>, text: &str) {
        if let Some((trail, comp_ids)) = &self.access {
            let comp_id = comp_ids.get(session as usize).map_or("", String::as_str);
            crate::access_trail::fix_refusal(Some(trail), session, comp_id, msg.msg_type(), text);
        }
    }

    /// Whether another request may be taken (back-pressure on socket reads).
    #[must_use]
    pub fn can_take_request(&self) -> bool {
        self.pending.len() < PENDING_MAX
    }

    /// Maps one inbound application message. A request for the sequencer is returned;
    /// refusals are answered on the session at once.
    pub fn on_app_message(
        &mut self,
        session: u32,
        msg: &Message<'_>,
        out: &mut dyn FixSender,
    ) -> Option<Request> {
        let msg_type = msg.msg_type();
        if self
            .sessions
            .get(session as usize)
            .is_some_and(|s| s.drop_copy)
        {
            self.business_reject(
                session,
                msg,
                0,
                6,
                "drop-copy sessions may not send orders",
                out,
            );
            return None;
        }
        let result = match msg_type {
            b"D" => self.new_order(session, msg),
            b"F" => self.cancel(session, msg),
            b"G" => self.replace(session, msg),
            b"q" => self.mass_cancel(session, msg),
            b"H" => {
                self.status(session, msg, out);
                return None;
            }
            b"AN" => {
                self.positions_report(session, msg, out);
                return None;
            }
            _ => Err(LocalReject::Business {
                ref_tag: 0,
                reason: 3,
                text: "unsupported message type",
            }),
        };
        match result {
            Ok((kind, annotation, pending)) => {
                let request_id = self.next_request_id;
                self.next_request_id += 1;
                self.pending.push_back(Pending {
                    request_id,
                    ..pending
                });
                Some(Request {
                    kind,
                    annotation,
                    read_ns: 0,
                    enqueued_ns: 0,
                    request_id,
                })
            }
            Err(LocalReject::Business {
                ref_tag,
                reason,
                text,
            }) => {
                self.business_reject(session, msg, ref_tag, reason, text, out);
                None
            }
            Err(LocalReject::Order { reason, text }) => {
                self.local_order_reject(session, msg, reason, text, out);
                None
            }
            Err(LocalReject::Foreign { instrument }) => {
                self.refuse_foreign(session, msg, instrument, out);
                None
            }
        }
    }

    /// The account a request names (Account (1), else the session's default), if the
    /// session is entitled to it. O(1): one hash lookup and one bit.
    fn account_of(&self, session: u32, msg: &Message<'_>) -> Result<u32, LocalReject> {
        let mapping = &self.sessions[session as usize];
        let account = match msg.get(1) {
            None => mapping.default_account,
            Some(name) => self.account_names.id(name).ok_or(NOT_ENTITLED)?,
        };
        if mapping.entitled.allows(account) {
            Ok(account)
        } else {
            Err(NOT_ENTITLED)
        }
    }

    /// A request about an existing order: an Account (1) it names, and the order's own
    /// account, must both be entitled (the latter matters after an entitlement was narrowed
    /// across a restart).
    fn check_order_account(
        &self,
        session: u32,
        msg: &Message<'_>,
        account: u32,
    ) -> Result<(), LocalReject> {
        if msg.get(1).is_some() {
            self.account_of(session, msg)?;
        }
        if self.sessions[session as usize].entitled.allows(account) {
            Ok(())
        } else {
            Err(NOT_ENTITLED)
        }
    }

    fn instrument_of(&self, msg: &Message<'_>) -> Result<InstrumentId, LocalReject> {
        let symbol = msg.get(55).ok_or(LocalReject::Business {
            ref_tag: 55,
            reason: 5,
            text: "Symbol (55) missing",
        })?;
        let instrument = self
            .instruments
            .iter()
            .find(|i| i.symbol.as_bytes() == symbol)
            .map(|i| i.id)
            .ok_or(LocalReject::Order {
                reason: 1,
                text: "unknown symbol",
            })?;
        if self.foreign_text(instrument).is_some() {
            return Err(LocalReject::Foreign { instrument });
        }
        Ok(instrument)
    }

    /// The strategy (algorithm) an order belongs to: the numeric PartyID (448) of the Parties
    /// entry whose PartyRole (452) is 12, Executing Trader — the MiFID II "execution within
    /// firm" identifier, an algorithm when PartyRoleQualifier (2376) is 22. None: strategy 0.
    fn strategy_of(msg: &Message<'_>) -> Result<StrategyId, LocalReject> {
        for entry in msg.group(&arbiter_fix::dictionary::PARTIES) {
            if entry.get(452) == Some(b"12") {
                let id = entry.get(448).unwrap_or(b"");
                return std::str::from_utf8(id)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .map(StrategyId)
                    .ok_or(LocalReject::Order {
                        reason: 99,
                        text: "strategy PartyID (448, PartyRole 12) must be a number",
                    });
            }
        }
        Ok(StrategyId(0))
    }

    fn client_id(msg: &Message<'_>, tag: u32) -> Result<ClientId, LocalReject> {
        msg.get(tag)
            .and_then(ClientId::new)
            .ok_or(LocalReject::Business {
                ref_tag: tag,
                reason: 5,
                text: "ClOrdID missing or longer than 32 bytes",
            })
    }

    fn price(
        &self,
        msg: &Message<'_>,
        tag: u32,
        instrument: InstrumentId,
    ) -> Result<Price, LocalReject> {
        let decimals = self.price_decimals[instrument.0 as usize];
        msg.get_price_decimal(tag, decimals)
            .map(Price)
            .map_err(|_| LocalReject::Order {
                reason: 18,
                text: "price missing, malformed or finer than the tick",
            })
    }

    fn qty(msg: &Message<'_>, tag: u32) -> Result<Qty, LocalReject> {
        match msg.get_price_decimal(tag, 0) {
            Ok(q) if q > 0 => Ok(Qty(q as u64)),
            _ => Err(LocalReject::Order {
                reason: 13,
                text: "quantity missing or not a positive whole number",
            }),
        }
    }

    #[allow(clippy::type_complexity)]
    fn new_order(
        &mut self,
        session: u32,
        msg: &Message<'_>,
    ) -> Result<(CommandKind, Annotation, Pending), LocalReject> {
        let client_id = Self::client_id(msg, 11)?;
        let account = self.account_of(session, msg)?;
        let instrument = self.instrument_of(msg)?;
        let side = match msg.get(54) {
            Some(b"1") => Side::Buy,
            Some(b"2") => Side::Sell,
            _ => {
                return Err(LocalReject::Order {
                    reason: 99,
                    text: "Side (54) must be 1 (buy) or 2 (sell)",
                })
            }
        };
        let qty = Self::qty(msg, 38)?;
        let ord_type = match msg.get(40) {
            Some(b"1") => OrdType::Market,
            Some(b"2") => OrdType::Limit,
            Some(b"3") => OrdType::Stop,
            Some(b"4") => OrdType::StopLimit,
            _ => {
                return Err(LocalReject::Order {
                    reason: 99,
                    text: "OrdType (40) must be 1, 2, 3 or 4",
                })
            }
        };
        let tif = match msg.get(59) {
            None | Some(b"0") => TimeInForce::Day,
            Some(b"1") => TimeInForce::Gtc,
            Some(b"3") => TimeInForce::Ioc,
            Some(b"4") => TimeInForce::Fok,
            Some(b"6") => TimeInForce::Gtd,
            _ => {
                return Err(LocalReject::Order {
                    reason: 99,
                    text: "TimeInForce (59) must be 0, 1, 3, 4 or 6",
                })
            }
        };
        let price = if matches!(ord_type, OrdType::Limit | OrdType::StopLimit) {
            self.price(msg, 44, instrument)?
        } else {
            Price(0)
        };
        let stop_price = if matches!(ord_type, OrdType::Stop | OrdType::StopLimit) {
            self.price(msg, 99, instrument)?
        } else {
            Price(0)
        };
        let expire_time = if tif == TimeInForce::Gtd {
            TimestampNs(
                msg.get_utc_timestamp_ns(126)
                    .map_err(|_| LocalReject::Order {
                        reason: 99,
                        text: "GTD needs ExpireTime (126)",
                    })?,
            )
        } else {
            TimestampNs(0)
        };
        let post_only = msg
            .get(18)
            .is_some_and(|v| v.split(|&b| b == b' ').any(|i| i == b"6"));
        let display_qty = match msg.get(111) {
            Some(_) => Self::qty(msg, 111)?,
            None => Qty(0),
        };
        let strategy = Self::strategy_of(msg)?;
        if !self.orders.has_room() {
            return Err(LocalReject::Order {
                reason: 99,
                text: "gateway order table full",
            });
        }
        let order_id = self.orders.allocate_order_id();
        if !self.orders.claim_client(session, client_id, order_id) {
            return Err(LocalReject::Order {
                reason: 6,
                text: "duplicate ClOrdID",
            });
        }
        let order = NewOrder {
            order_id,
            instrument,
            account: AccountId(account),
            strategy,
            session: SessionId(session),
            side,
            ord_type,
            tif,
            price,
            stop_price,
            qty,
            display_qty,
            post_only,
            expire_time,
            client_ref: client_id.hash64(),
            ..NewOrder::default()
        };
        self.record_new(&order, client_id);
        Ok((
            CommandKind::NewOrder(order),
            Annotation::new(client_id.as_bytes()),
            Pending {
                request_id: 0,
                session,
                client_id,
                kind: PendingKind::New,
            },
        ))
    }

    /// Remembers a new order (live, or while replaying the journal).
    fn record_new(&mut self, order: &NewOrder, client_id: ClientId) {
        self.orders.insert(
            order.order_id,
            OrderRecord {
                session: order.session.0,
                client_id,
                orig_client_id: client_id,
                account: order.account.0,
                instrument: order.instrument,
                side: order.side,
                ord_type: order.ord_type,
                tif: order.tif,
                price: order.price,
                stop_price: order.stop_price,
                qty: order.qty,
                cum_qty: Qty(0),
                leaves: order.qty,
                notional: 0,
            },
        );
    }

    fn target_order(&self, session: u32, orig: &ClientId) -> Result<(OrderId, u32), LocalReject> {
        let order = self
            .orders
            .lookup_client(session, orig)
            .ok_or(LocalReject::Order {
                reason: 1,
                text: "unknown order",
            })?;
        let account = self
            .orders
            .get(order)
            .map_or(self.sessions[session as usize].default_account, |r| {
                r.account
            });
        Ok((order, account))
    }

    #[allow(clippy::type_complexity)]
    fn cancel(
        &mut self,
        session: u32,
        msg: &Message<'_>,
    ) -> Result<(CommandKind, Annotation, Pending), LocalReject> {
        let client_id = Self::client_id(msg, 11)?;
        let orig = Self::client_id(msg, 41)?;
        self.check_symbol_shard(msg)?;
        let (order_id, account) = self.target_order(session, &orig)?;
        self.check_order_account(session, msg, account)?;
        Ok((
            CommandKind::Cancel(CancelOrder {
                order_id,
                account: AccountId(account),
                session: SessionId(session),
            }),
            Annotation::new(client_id.as_bytes()),
            Pending {
                request_id: 0,
                session,
                client_id,
                kind: PendingKind::Cancel { orig },
            },
        ))
    }

    #[allow(clippy::type_complexity)]
    fn replace(
        &mut self,
        session: u32,
        msg: &Message<'_>,
    ) -> Result<(CommandKind, Annotation, Pending), LocalReject> {
        let client_id = Self::client_id(msg, 11)?;
        let orig = Self::client_id(msg, 41)?;
        self.check_symbol_shard(msg)?;
        let (order_id, account) = self.target_order(session, &orig)?;
        self.check_order_account(session, msg, account)?;
        let record = *self.orders.get(order_id).ok_or(LocalReject::Order {
            reason: 1,
            text: "unknown order",
        })?;
        let qty = Self::qty(msg, 38)?;
        let price = if matches!(record.ord_type, OrdType::Limit | OrdType::StopLimit) {
            self.price(msg, 44, record.instrument)?
        } else {
            record.price
        };
        let stop_price = if matches!(record.ord_type, OrdType::Stop | OrdType::StopLimit) {
            msg.get(99).map_or(Ok(record.stop_price), |_| {
                self.price(msg, 99, record.instrument)
            })?
        } else {
            Price(0)
        };
        if !self.orders.claim_client(session, client_id, order_id) {
            return Err(LocalReject::Order {
                reason: 6,
                text: "duplicate ClOrdID",
            });
        }
        Ok((
            CommandKind::Replace(ReplaceOrder {
                order_id,
                account: AccountId(account),
                session: SessionId(session),
                price,
                stop_price,
                qty,
                client_ref: client_id.hash64(),
            }),
            Annotation::new(client_id.as_bytes()),
            Pending {
                request_id: 0,
                session,
                client_id,
                kind: PendingKind::Replace { orig },
            },
        ))
    }

    #[allow(clippy::type_complexity)]
    fn mass_cancel(
        &mut self,
        session: u32,
        msg: &Message<'_>,
    ) -> Result<(CommandKind, Annotation, Pending), LocalReject> {
        let client_id = Self::client_id(msg, 11)?;
        let request_type = msg
            .get(530)
            .and_then(|v| v.first().copied())
            .unwrap_or(b'7');
        let instrument = match request_type {
            b'1' => Some(self.instrument_of(msg)?),
            b'7' => None,
            _ => {
                return Err(LocalReject::Business {
                    ref_tag: 530,
                    reason: 5,
                    text: "MassCancelRequestType (530) must be 1 or 7",
                })
            }
        };
        let side = match msg.get(54) {
            Some(b"1") => Some(Side::Buy),
            Some(b"2") => Some(Side::Sell),
            _ => None,
        };
        let account = self.account_of(session, msg)?;
        Ok((
            CommandKind::MassCancel(MassCancel {
                account: AccountId(account),
                instrument,
                side,
                session: SessionId(session),
            }),
            Annotation::new(client_id.as_bytes()),
            Pending {
                request_id: 0,
                session,
                client_id,
                kind: PendingKind::MassCancel { request_type },
            },
        ))
    }

    fn status(&mut self, session: u32, msg: &Message<'_>, out: &mut dyn FixSender) {
        let found = Self::client_id(msg, 11)
            .ok()
            .and_then(|c| self.orders.lookup_client(session, &c))
            .and_then(|id| self.orders.get(id).map(|r| (id, *r)));
        let refused = match found {
            Some((_, record)) => self.check_order_account(session, msg, record.account),
            None if msg.get(1).is_some() => self.account_of(session, msg).map(|_| ()),
            None => Ok(()),
        };
        if refused.is_err() {
            self.trail_refusal(session, msg, NOT_ENTITLED_TEXT);
            self.local_exec_report(session, msg, b'I', None, NOT_ENTITLED_TEXT, out);
            return;
        }
        match found {
            Some((order_id, record)) => {
                let status = record.live_status();
                self.exec_report(order_id, &record, b'I', status, None, TimestampNs(0), out);
            }
            None => {
                // FIX: an unknown order's status is ExecType I with OrdStatus 8 (rejected).
                // One of another shard's instruments: say where the order lives.
                if let Err(LocalReject::Foreign { instrument }) = self.check_symbol_shard(msg) {
                    let foreign = std::mem::take(&mut self.foreign);
                    let text = foreign
                        .get(instrument.0 as usize)
                        .and_then(|text| text.as_deref())
                        .unwrap_or("unknown order");
                    self.local_exec_report(session, msg, b'I', None, text, out);
                    self.foreign = foreign;
                    return;
                }
                self.local_exec_report(session, msg, b'I', None, "unknown order", out);
            }
        }
    }

    /// RequestForPositions (AN): one PositionReport (AP) per instrument the account holds a
    /// position in (net of its trades since the journal began), or one with PosReqResult 2
    /// when it holds none.
    fn positions_report(&mut self, session: u32, msg: &Message<'_>, out: &mut dyn FixSender) {
        let account = match self.account_of(session, msg) {
            Ok(account) => account as usize,
            Err(_) => {
                self.business_reject(session, msg, 1, 4, NOT_ENTITLED_TEXT, out);
                return;
            }
        };
        let request_id = msg.get(710).unwrap_or(b"NONE");
        if msg.get(724).is_some_and(|t| t != b"0") {
            self.business_reject(
                session,
                msg,
                724,
                5,
                "only PosReqType 0 (positions) is supported",
                out,
            );
            return;
        }
        let business_date = msg.get(715).unwrap_or(b"19700101");
        let account_name = self
            .account_names
            .name(account as u32)
            .map_or(&b"NONE"[..], str::as_bytes);
        let row = account * self.instruments_count;
        let held: Vec<(usize, i64)> = (0..self.instruments_count)
            .map(|i| (i, self.positions.get(row + i).copied().unwrap_or(0)))
            .filter(|&(_, p)| p != 0)
            .collect();
        let total = held.len().max(1) as u64;
        if held.is_empty() {
            self.position_reports += 1;
            let report_id = self.position_reports;
            out.send_app(session, b"AP", &mut |b| {
                b.push_u64(721, report_id);
                b.push_str(710, request_id);
                b.push_char(724, b'0');
                b.push_u64(727, 0);
                b.push_char(728, b'2');
                b.push_str(715, business_date);
                b.push_str(1, account_name);
                b.push_str(58, b"no positions found");
            });
            return;
        }
        for (instrument, position) in held {
            self.position_reports += 1;
            let report_id = self.position_reports;
            let symbol = self
                .instruments
                .get(InstrumentId(instrument as u32))
                .map_or(&b""[..], |i| i.symbol.as_bytes());
            out.send_app(session, b"AP", &mut |b| {
                b.push_u64(721, report_id);
                b.push_str(710, request_id);
                b.push_char(724, b'0');
                b.push_u64(727, total);
                b.push_char(728, b'0');
                b.push_str(715, business_date);
                b.push_str(1, account_name);
                b.push_str(55, symbol);
                b.push_u64(702, 1);
                b.push_str(703, b"TQ");
                b.push_u64(704, position.max(0).unsigned_abs());
                b.push_u64(705, position.min(0).unsigned_abs());
            });
        }
    }

    /// Refuses an order message without sequencing it (the venue node cannot take it now:
    /// fenced, or new orders halted while replication is lost): an ExecutionReport with
    /// ExecType 8 for a NewOrderSingle, a business reject for anything else.
    pub fn refuse(&mut self, session: u32, msg: &Message<'_>, text: &str, out: &mut dyn FixSender) {
        if msg.msg_type() == b"D" {
            self.local_exec_report(session, msg, b'8', Some(99), text, out);
        } else {
            self.business_reject(session, msg, 0, 0, text, out);
        }
    }

    /// An ExecutionReport the gateway answers itself (a refusal before the sequencer, or the
    /// status of an unknown order): OrdStatus 8, no order id, nothing filled.
    fn local_exec_report(
        &mut self,
        session: u32,
        msg: &Message<'_>,
        exec_type: u8,
        ord_rej_reason: Option<u32>,
        text: &str,
        out: &mut dyn FixSender,
    ) {
        let client_id = msg.get(11).unwrap_or(b"NONE");
        let symbol = msg.get(55).unwrap_or(b"NONE");
        let side = msg.get(54).and_then(|s| s.first().copied()).unwrap_or(b'1');
        self.local_exec_ids += 1;
        let exec_id = self.local_exec_ids;
        let prefix = self.local_exec_prefix;
        out.send_app(session, b"8", &mut |b| {
            b.push_str(37, b"NONE");
            b.push_str(11, client_id);
            push_local_exec_id(b, prefix, exec_id);
            b.push_char(150, exec_type);
            b.push_char(39, b'8');
            b.push_str(55, symbol);
            b.push_char(54, side);
            b.push_u64(151, 0);
            b.push_u64(14, 0);
            b.push_u64(6, 0);
            if let Some(reason) = ord_rej_reason {
                b.push_u64(103, u64::from(reason));
            }
            b.push_str(58, text.as_bytes());
        });
    }

    /// Refuses a message the venue cannot take now (BusinessMessageReject, reason 4
    /// "application not available"), with `text` and a line in the access trail.
    pub fn refuse_unavailable(
        &self,
        session: u32,
        msg: &Message<'_>,
        text: &str,
        out: &mut dyn FixSender,
    ) {
        self.business_reject(session, msg, 0, 4, text, out);
    }

    fn business_reject(
        &self,
        session: u32,
        msg: &Message<'_>,
        ref_tag: u32,
        reason: u32,
        text: &str,
        out: &mut dyn FixSender,
    ) {
        self.trail_refusal(session, msg, text);
        let ref_seq = msg.msg_seq_num().unwrap_or(0);
        let msg_type = msg.msg_type();
        out.send_app(session, b"j", &mut |b| {
            b.push_u64(45, ref_seq);
            b.push_bytes(372, msg_type);
            b.push_u64(380, u64::from(reason));
            if ref_tag != 0 {
                b.push_u64(371, u64::from(ref_tag));
            }
            b.push_str(58, text.as_bytes());
        });
    }

    /// An ExecutionReport (rejected) or OrderCancelReject for a message the gateway refused.
    fn local_order_reject(
        &mut self,
        session: u32,
        msg: &Message<'_>,
        reason: u32,
        text: &str,
        out: &mut dyn FixSender,
    ) {
        self.trail_refusal(session, msg, text);
        let client_id = msg.get(11).unwrap_or(b"NONE");
        match msg.msg_type() {
            b"F" | b"G" => {
                let orig = msg.get(41).unwrap_or(b"NONE");
                let response_to = if msg.msg_type() == b"F" { b'1' } else { b'2' };
                out.send_app(session, b"9", &mut |b| {
                    b.push_str(37, b"NONE");
                    b.push_str(11, client_id);
                    b.push_str(41, orig);
                    b.push_char(39, b'8');
                    b.push_char(434, response_to);
                    b.push_u64(102, if reason == 1 { 1 } else { 99 });
                    b.push_str(58, text.as_bytes());
                });
            }
            _ => self.local_exec_report(session, msg, b'8', Some(reason), text, out),
        }
    }

    fn next_exec_id(&mut self) -> (u64, u32) {
        self.exec_counter += 1;
        (self.exec_seq.0, self.exec_counter)
    }

    #[allow(clippy::too_many_arguments)]
    fn exec_report(
        &mut self,
        order_id: OrderId,
        record: &OrderRecord,
        exec_type: u8,
        ord_status: u8,
        fill: Option<(Price, Qty)>,
        timestamp: TimestampNs,
        out: &mut dyn FixSender,
    ) {
        self.exec_report_with(
            order_id, record, exec_type, ord_status, fill, timestamp, None, out,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn exec_report_with(
        &mut self,
        order_id: OrderId,
        record: &OrderRecord,
        exec_type: u8,
        ord_status: u8,
        fill: Option<(Price, Qty)>,
        timestamp: TimestampNs,
        reject: Option<(u32, &str)>,
        out: &mut dyn FixSender,
    ) {
        let (exec_seq, exec_n) = self.next_exec_id();
        let instrument = self.instruments.get(record.instrument).expect("known");
        let decimals = self.price_decimals[record.instrument.0 as usize];
        let account_name = self.account_names.name(record.account).map(str::as_bytes);
        let symbol = instrument.symbol.as_bytes();
        let mut fill = |b: &mut MessageBuilder<'_>| {
            b.push_u64(37, order_id.0);
            b.push_str(11, record.client_id.as_bytes());
            if record.orig_client_id != record.client_id {
                b.push_str(41, record.orig_client_id.as_bytes());
            }
            let mut exec_id = [0u8; 48];
            let len = format_exec_id(&mut exec_id, exec_seq, exec_n);
            b.push_str(17, &exec_id[..len]);
            b.push_char(150, exec_type);
            b.push_char(39, ord_status);
            if let Some(account) = account_name {
                b.push_str(1, account);
            }
            b.push_str(55, symbol);
            b.push_char(54, if record.side == Side::Buy { b'1' } else { b'2' });
            b.push_u64(38, record.qty.0);
            b.push_char(40, ord_type_char(record.ord_type));
            if matches!(record.ord_type, OrdType::Limit | OrdType::StopLimit) {
                b.push_decimal(44, record.price.0, decimals);
            }
            b.push_char(59, tif_char(record.tif));
            if let Some((price, qty)) = fill {
                b.push_decimal(31, price.0, decimals);
                b.push_u64(32, qty.0);
            }
            b.push_u64(151, record.leaves.0);
            b.push_u64(14, record.cum_qty.0);
            b.push_decimal(6, record.avg_price(), decimals);
            if timestamp.0 != 0 {
                b.push_timestamp(60, timestamp.0, TimestampPrecision::Micros);
            }
            if let Some((reason, text)) = reject {
                if exec_type == b'8' {
                    b.push_u64(103, u64::from(reason));
                }
                b.push_str(58, text.as_bytes());
            }
        };
        out.send_app(record.session, b"8", &mut fill);
        // Drop copies: the same report, same ExecID, to every drop-copy session of the firm
        // entitled to the order's account.
        let firm = self.sessions[record.session as usize].firm;
        for (index, mapping) in self.sessions.iter().enumerate() {
            if mapping.drop_copy && mapping.firm == firm && mapping.entitled.allows(record.account)
            {
                out.send_app(index as u32, b"8", &mut fill);
            }
        }
    }

    /// Handles one event from the sequencer. `request_id` is the gateway request that caused
    /// it (zero for admin and clock commands). With `out == None` (journal replay at start-up)
    /// only the order table is updated.
    pub fn on_event(
        &mut self,
        request_id: u64,
        seq: Seq,
        timestamp: TimestampNs,
        event: &Event,
        mut out: Option<&mut dyn FixSender>,
    ) {
        if self.exec_seq != seq {
            self.exec_seq = seq;
            self.exec_counter = 0;
        }
        let pending = self
            .pending
            .front()
            .copied()
            .filter(|p| request_id != 0 && p.request_id == request_id);
        match *event {
            Event::Accepted { order_id, .. } => {
                if let (Some(out), Some(record)) =
                    (out.as_deref_mut(), self.orders.get(order_id).copied())
                {
                    self.exec_report_at(
                        seq, order_id, &record, b'0', b'0', None, timestamp, None, out,
                    );
                }
            }
            Event::Rejected {
                order_id,
                reason,
                kind,
            } => match (kind, pending) {
                (RejectedKind::NewOrder, _) => {
                    if let Some(record) = self.orders.remove(order_id) {
                        self.orders
                            .release_client(record.session, &record.client_id);
                        if let Some(out) = out {
                            self.exec_report_at(
                                seq,
                                order_id,
                                &record,
                                b'8',
                                b'8',
                                None,
                                timestamp,
                                Some((ord_rej_reason(reason), reason.text())),
                                out,
                            );
                        }
                    }
                }
                (RejectedKind::Cancel | RejectedKind::Replace, Some(p)) => {
                    if kind == RejectedKind::Replace {
                        // The refused replace's new ClOrdID was taken at request time.
                        let current = self
                            .orders
                            .get(order_id)
                            .map(|r| (r.client_id, r.orig_client_id));
                        if current.is_none_or(|(c, o)| c != p.client_id && o != p.client_id) {
                            self.orders.release_client(p.session, &p.client_id);
                        }
                    }
                    if let Some(out) = out {
                        let orig = match p.kind {
                            PendingKind::Cancel { orig } | PendingKind::Replace { orig } => orig,
                            _ => p.client_id,
                        };
                        let status = self
                            .orders
                            .get(order_id)
                            .map_or(b'8', OrderRecord::live_status);
                        let response_to = if kind == RejectedKind::Cancel {
                            b'1'
                        } else {
                            b'2'
                        };
                        out.send_app(p.session, b"9", &mut |b| {
                            b.push_u64(37, order_id.0);
                            b.push_str(11, p.client_id.as_bytes());
                            b.push_str(41, orig.as_bytes());
                            b.push_char(39, status);
                            b.push_char(434, response_to);
                            b.push_u64(102, cxl_rej_reason(reason));
                            b.push_str(58, reason.text().as_bytes());
                        });
                    }
                }
                (_, Some(p)) => {
                    if let (Some(out), PendingKind::MassCancel { request_type }) = (out, p.kind) {
                        out.send_app(p.session, b"r", &mut |b| {
                            b.push_str(11, p.client_id.as_bytes());
                            b.push_u64(37, seq.0);
                            b.push_char(530, request_type);
                            b.push_char(531, b'0');
                            b.push_u64(532, 99);
                            b.push_str(58, reason.text().as_bytes());
                        });
                    }
                }
                _ => {}
            },
            Event::Trade(trade) => {
                for (order_id, leaves) in [
                    (trade.maker_order_id, trade.maker_leaves),
                    (trade.taker_order_id, trade.taker_leaves),
                ] {
                    let Some(record) = self.orders.get_mut(order_id) else {
                        continue;
                    };
                    let signed = trade.qty.0 as i64 * if record.side == Side::Buy { 1 } else { -1 };
                    let cell = record.account as usize * self.instruments_count
                        + record.instrument.0 as usize;
                    if let Some(position) = self.positions.get_mut(cell) {
                        *position += signed;
                    }
                    let Some(record) = self.orders.get_mut(order_id) else {
                        continue;
                    };
                    record.cum_qty.0 += trade.qty.0;
                    record.leaves = leaves;
                    record.notional += i128::from(trade.price.0) * i128::from(trade.qty.0);
                    let record = *record;
                    let status = record.live_status();
                    if let Some(out) = out.as_deref_mut() {
                        self.exec_report_at(
                            seq,
                            order_id,
                            &record,
                            b'F',
                            status,
                            Some((trade.price, trade.qty)),
                            timestamp,
                            None,
                            out,
                        );
                    }
                    if leaves.0 == 0 {
                        self.forget(order_id);
                    }
                }
            }
            Event::Cancelled {
                order_id,
                qty,
                reason,
                ..
            } => {
                let Some(record) = self.orders.get_mut(order_id) else {
                    return;
                };
                record.leaves.0 = record.leaves.0.saturating_sub(qty.0);
                if let (Some(p), CancelReason::Requested) = (pending, reason) {
                    // The cancel request's ClOrdID names the report.
                    record.orig_client_id = record.client_id;
                    record.client_id = p.client_id;
                }
                let record = *record;
                let done = record.leaves.0 == 0;
                let (exec_type, status) = match (done, reason) {
                    (false, _) => (b'D', record.live_status()),
                    (true, CancelReason::Expired) => (b'C', b'C'),
                    (true, _) => (b'4', b'4'),
                };
                if let Some(out) = out {
                    self.exec_report_at(
                        seq,
                        order_id,
                        &record,
                        exec_type,
                        status,
                        None,
                        timestamp,
                        Some((0, reason.text())),
                        out,
                    );
                }
                if done {
                    self.forget(order_id);
                }
            }
            Event::Replaced {
                order_id,
                price,
                leaves,
                ..
            } => {
                let mut dropped = None;
                let Some(record) = self.orders.get_mut(order_id) else {
                    return;
                };
                if let Some(Pending {
                    client_id,
                    kind: PendingKind::Replace { orig },
                    ..
                }) = pending
                {
                    let previous = record.orig_client_id;
                    record.orig_client_id = orig;
                    record.client_id = client_id;
                    if previous != orig && previous != client_id {
                        dropped = Some((record.session, previous));
                    }
                }
                let record = self.orders.get_mut(order_id).expect("present above");
                if matches!(record.ord_type, OrdType::Limit | OrdType::StopLimit) {
                    record.price = price;
                }
                record.leaves = leaves;
                record.qty = Qty(leaves.0 + record.cum_qty.0);
                let record = *record;
                if let Some((session, id)) = dropped {
                    self.orders.release_client(session, &id);
                }
                if let Some(out) = out {
                    let status = record.live_status();
                    self.exec_report_at(
                        seq, order_id, &record, b'5', status, None, timestamp, None, out,
                    );
                }
            }
            Event::Triggered { order_id, .. } => {
                if let (Some(out), Some(record)) = (out, self.orders.get(order_id).copied()) {
                    let status = record.live_status();
                    self.exec_report_at(
                        seq, order_id, &record, b'L', status, None, timestamp, None, out,
                    );
                }
            }
            Event::MassCancelled { count, .. } => {
                if let (Some(out), Some(p)) = (out, pending) {
                    if let PendingKind::MassCancel { request_type } = p.kind {
                        out.send_app(p.session, b"r", &mut |b| {
                            b.push_str(11, p.client_id.as_bytes());
                            b.push_u64(37, seq.0);
                            b.push_char(530, request_type);
                            b.push_char(531, request_type);
                            b.push_u64(533, u64::from(count));
                        });
                    }
                }
            }
            // Market data and risk notices are not order reports.
            _ => {}
        }
    }

    /// An order finished: forget it and its client ids.
    fn forget(&mut self, order_id: OrderId) {
        if let Some(record) = self.orders.remove(order_id) {
            self.orders
                .release_client(record.session, &record.client_id);
            self.orders
                .release_client(record.session, &record.orig_client_id);
        }
    }

    /// A request's events are all in: forget it.
    pub fn on_done(&mut self, request_id: u64) {
        if request_id != 0
            && self
                .pending
                .front()
                .is_some_and(|p| p.request_id == request_id)
        {
            self.pending.pop_front();
        }
    }

    /// Rebuilds the order table from one replayed command's event (start-up).
    pub fn on_replayed(
        &mut self,
        command: &arbiter_engine::Command,
        annotation: &[u8],
        event: &Event,
    ) {
        match (&command.kind, event) {
            (CommandKind::NewOrder(order), Event::Accepted { .. }) => {
                if let Some(client_id) = ClientId::new(annotation) {
                    self.orders
                        .claim_client(order.session.0, client_id, order.order_id);
                    self.record_new(order, client_id);
                }
            }
            (CommandKind::NewOrder(order), Event::Rejected { .. }) => {
                // As live: the id is taken, and released with the refusal.
                if let Some(client_id) = ClientId::new(annotation) {
                    self.orders
                        .claim_client(order.session.0, client_id, order.order_id);
                    self.orders.release_client(order.session.0, &client_id);
                }
            }
            (CommandKind::Replace(replace), Event::Replaced { .. }) => {
                if let Some(client_id) = ClientId::new(annotation) {
                    self.orders
                        .claim_client(replace.session.0, client_id, replace.order_id);
                    if let Some(record) = self.orders.get_mut(replace.order_id) {
                        let dropped = record.orig_client_id;
                        record.orig_client_id = record.client_id;
                        record.client_id = client_id;
                        if dropped != record.orig_client_id && dropped != client_id {
                            self.orders.release_client(replace.session.0, &dropped);
                        }
                    }
                }
                self.on_event(0, command.seq, command.timestamp, event, None);
            }
            _ => self.on_event(0, command.seq, command.timestamp, event, None),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn exec_report_at(
        &mut self,
        seq: Seq,
        order_id: OrderId,
        record: &OrderRecord,
        exec_type: u8,
        ord_status: u8,
        fill: Option<(Price, Qty)>,
        timestamp: TimestampNs,
        reject: Option<(u32, &str)>,
        out: &mut dyn FixSender,
    ) {
        if self.exec_seq != seq {
            self.exec_seq = seq;
            self.exec_counter = 0;
        }
        self.exec_report_with(
            order_id, record, exec_type, ord_status, fill, timestamp, reject, out,
        );
    }
}

/// ExecID of a report the gateway answers itself: "G<start>-<n>" cannot collide with the journal's
/// "<seq>-<n>" form. The counter restarts with the process, so the prefix carries the start
/// time too.
fn push_local_exec_id(b: &mut MessageBuilder<'_>, prefix: u64, n: u64) {
    use std::io::Write;
    let mut buffer = [0u8; 48];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    let _ = write!(cursor, "G{prefix}-{n}");
    let len = cursor.position() as usize;
    b.push_str(17, &buffer[..len]);
}

/// ExecID: "<journal sequence>-<report number within the command>", unique and the same on
/// every replay.
fn format_exec_id(buffer: &mut [u8; 48], seq: u64, n: u32) -> usize {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    let _ = write!(cursor, "{seq}-{n}");
    cursor.position() as usize
}

fn ord_type_char(ord_type: OrdType) -> u8 {
    match ord_type {
        OrdType::Market => b'1',
        OrdType::Limit => b'2',
        OrdType::Stop => b'3',
        OrdType::StopLimit => b'4',
    }
}

fn tif_char(tif: TimeInForce) -> u8 {
    match tif {
        TimeInForce::Day => b'0',
        TimeInForce::Gtc => b'1',
        TimeInForce::Ioc => b'3',
        TimeInForce::Fok => b'4',
        TimeInForce::Gtd => b'6',
    }
}

/// OrdRejReason (103) for an engine reason.
#[must_use]
pub fn ord_rej_reason(reason: RejectReason) -> u32 {
    use RejectReason as R;
    match reason {
        R::UnknownInstrument => 1,
        R::InstrumentHalted | R::InstrumentClosed | R::OutsideTradingHours => 2,
        R::QtyAboveMax
        | R::RiskMaxOrderQty
        | R::RiskMaxOrderNotional
        | R::RiskPositionLimit
        | R::RiskCreditLimit
        | R::RiskDailyLoss
        | R::RiskVelocity => 3,
        R::UnknownOrder => 5,
        R::DuplicateOrderId | R::RiskDuplicateClOrdId => 6,
        R::QtyOffLot | R::QtyBelowMin => 13,
        R::UnknownAccount => 15,
        R::PriceOutsideBand | R::RiskPriceDeviation => 16,
        R::PriceOffTick => 18,
        _ => 99,
    }
}

/// CxlRejReason (102) for an engine reason.
#[must_use]
pub fn cxl_rej_reason(reason: RejectReason) -> u64 {
    match reason {
        RejectReason::UnknownOrder => 1,
        RejectReason::InstrumentHalted | RejectReason::InstrumentClosed => 2,
        _ => 99,
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::session_ledger::JournaledSession;

    fn app() -> FixApp {
        crate::state::new_gateway(&arbiter_config::Config::default_demo())
    }

    #[test]
    fn a_snapshot_keeps_the_sessions_journaled_numbers() {
        let mut source = app();
        source.on_session_mark(&SessionMark {
            session: 1,
            reset: true,
            creation_ns: 42,
            next_target: 3,
            sender_through: 262_144,
        });
        source.on_origin(RecordOrigin {
            session: 1,
            msg_seq: 9,
        });
        let mut restored = app();
        restored.restore(&source.snapshot_bytes()).unwrap();
        assert_eq!(
            restored.sessions_journaled().get(1),
            Some(JournaledSession {
                creation_ns: 42,
                next_target: 10,
                sender_through: 262_144
            })
        );
    }

    #[test]
    fn a_version_1_snapshot_still_restores_with_no_session_numbers() {
        let source = app();
        // Version 1 had the same fields, without the ledger (bincode writes fields in order).
        let v1 = bincode::serialize(&(
            1u32,
            source.orders.image(),
            source.instruments_count as u64,
            source.positions.clone(),
        ))
        .unwrap();
        let mut restored = app();
        restored.restore(&v1).unwrap();
        assert_eq!(restored.sessions_journaled().get(0), None);
        let mut future = v1.clone();
        future[0] = 9;
        assert!(app().restore(&future).is_err());
    }
}
