//! The engine side of risk: the hooks `engine.rs` calls, risk commands, kill-switch cancels
//! and the read-outs. A child module of `engine` (declared there with `#[path]`), so it sees
//! the book internals without widening their visibility; the risk logic itself lives in the
//! sibling files of this directory.

use super::{Engine, NIL};
use crate::command::{Command, CommandKind, NewOrder, ReplaceOrder};
use crate::event::{Event, EventSink, RejectedKind};
use crate::orders::Slot;
use crate::reason::{CancelReason, RejectReason};
use crate::risk::state::{facts_of, OrderFacts, PendingKill};
use crate::risk::{
    ApprovalAction, ApprovalRefusal, KillReason, KillScope, KillStatus, KillTrigger, LimitKind,
    OperatorId, OperatorRole, PendingApproval, RiskCommand, RiskEvent, RiskScope, Utilisation,
    NO_LIMIT,
};
use crate::types::{InstrumentId, OrdType, OrderId, Price, TimestampNs};

fn control_reject<S: EventSink>(sink: &mut S, reason: RejectReason) {
    sink.emit(Event::Rejected {
        order_id: OrderId(0),
        reason,
        kind: RejectedKind::Control,
    });
}

impl Engine {
    // ----- hooks ------------------------------------------------------------------------------

    /// Before every command: expire approval requests, count the message, start a new day.
    #[inline]
    pub(super) fn risk_before_command<S: EventSink>(&mut self, command: &Command, sink: &mut S) {
        let now = command.timestamp;
        self.risk.now = now;
        if self.risk.approvals.any_pending() {
            self.risk.approvals.expire(now, |action, approvals| {
                sink.emit(Event::Risk(RiskEvent::ApprovalExpired {
                    action,
                    approvals,
                }));
            });
        }
        match command.kind {
            CommandKind::NewOrder(o) => self.risk.on_message(now, o.account.0, o.session.0),
            CommandKind::Cancel(c) => self.risk.on_message(now, c.account.0, c.session.0),
            CommandKind::Replace(r) => self.risk.on_message(now, r.account.0, r.session.0),
            CommandKind::MassCancel(m) => self.risk.on_message(now, m.account.0, m.session.0),
            CommandKind::EndOfDay => self.risk.end_of_day(),
            _ => {}
        }
    }

    /// After every command: breaches found on fills, queued notices, automatic kills.
    #[inline]
    pub(super) fn risk_after_command<S: EventSink>(&mut self, sink: &mut S) {
        if !self.risk.has_work() {
            return;
        }
        self.risk.evaluate_dirty();
        for index in 0..self.risk.notices.len() {
            sink.emit(Event::Risk(self.risk.notices[index]));
        }
        self.risk.notices.clear();
        for index in 0..self.risk.pending_kills.len() {
            let kill: PendingKill = self.risk.pending_kills[index];
            if self.risk.kills.get(kill.scope).is_some_and(|s| s.active) {
                continue;
            }
            self.activate_kill(
                kill.scope,
                kill.trigger,
                kill.reason,
                OperatorId(0),
                (kill.figure, kill.limit),
                CancelReason::KillSwitch,
                sink,
            );
        }
        self.risk.pending_kills.clear();
    }

    /// Risk step 1 for a new order (after the phase check): strategy and session ids,
    /// trading hours, kill switches.
    #[inline]
    pub(super) fn risk_gate(&self, now: TimestampNs, order: &NewOrder) -> Result<(), RejectReason> {
        self.risk.gate(now, &new_order_facts(order))
    }

    /// Risk steps 2–8 for a new order that passed every matching check.
    #[inline]
    pub(super) fn risk_check_new(&mut self, order: &NewOrder) -> Result<(), RejectReason> {
        let tick = self.tick_size(order.instrument);
        self.risk
            .check(self.risk.now, &new_order_facts(order), tick, None)
    }

    /// Risk steps 2–5, 7 and 8 for a replace's new terms, the order's current contribution
    /// set aside.
    pub(super) fn risk_check_replace(
        &mut self,
        index: u32,
        slot: &Slot,
        replace: &ReplaceOrder,
    ) -> Result<(), RejectReason> {
        let mut facts = facts_of(slot);
        facts.qty = replace.qty.0 - slot.filled.0;
        if matches!(slot.ord_type, OrdType::Limit | OrdType::StopLimit) {
            facts.price = replace.price.0;
        }
        if slot.in_stop_book {
            facts.stop_price = replace.stop_price.0;
        }
        facts.client_ref = replace.client_ref;
        let tick = self.tick_size(slot.instrument);
        let registered = self.risk.registered(index);
        self.risk
            .check(self.risk.now, &facts, tick, Some(registered))
    }

    fn tick_size(&self, instrument: InstrumentId) -> i64 {
        self.instruments
            .get(instrument)
            .map_or(1, |i| i.tick_size.0)
    }

    /// An order entered the arena.
    #[inline]
    pub(super) fn risk_on_accept(&mut self, index: u32) {
        self.risk.on_accept(index, self.orders.get(index));
    }

    /// A live order's terms changed (replace).
    #[inline]
    pub(super) fn risk_on_replace(&mut self, index: u32) {
        self.risk.on_reregister(index, self.orders.get(index));
    }

    /// A fill between two live orders.
    #[inline]
    pub(super) fn risk_on_fill(&mut self, maker: u32, taker: u32, price: Price, qty: crate::Qty) {
        self.risk
            .on_fill(maker, self.orders.get(maker), price.0, qty.0);
        self.risk
            .on_fill(taker, self.orders.get(taker), price.0, qty.0);
    }

    /// A live order's open quantity shrank without a fill.
    #[inline]
    pub(super) fn risk_on_reduce(&mut self, index: u32, qty: crate::Qty) {
        self.risk.on_reduce(index, self.orders.get(index), qty.0);
    }

    /// Frees an order's slot, taking its open quantity out of the risk figures first.
    #[inline]
    pub(super) fn remove_order(&mut self, index: u32) {
        self.risk.on_remove(index, self.orders.get(index));
        self.orders.remove(index);
    }

    // ----- risk commands ------------------------------------------------------------------------

    pub(super) fn apply_risk<S: EventSink>(
        &mut self,
        now: TimestampNs,
        command: &RiskCommand,
        sink: &mut S,
    ) {
        let known = |engine: &Engine, operator: OperatorId| engine.risk.role(operator).is_some();
        match *command {
            RiskCommand::SetLimit {
                operator,
                scope,
                instrument,
                kind,
                value,
            } => {
                if !known(self, operator) {
                    return control_reject(sink, RejectReason::NotAuthorized);
                }
                match self.risk.set_limit(scope, instrument, kind, value) {
                    Ok(()) => sink.emit(Event::Risk(RiskEvent::LimitSet {
                        scope,
                        instrument,
                        kind,
                        value,
                    })),
                    Err(reason) => control_reject(sink, reason),
                }
            }
            RiskCommand::SetReferencePrice {
                operator,
                instrument,
                price,
            } => {
                if !known(self, operator) {
                    return control_reject(sink, RejectReason::NotAuthorized);
                }
                if self.instruments.get(instrument).is_none() {
                    return control_reject(sink, RejectReason::UnknownInstrument);
                }
                if price.0 < 0 {
                    return control_reject(sink, RejectReason::InvalidOrder);
                }
                self.risk.set_reference(instrument, price);
                sink.emit(Event::Risk(RiskEvent::ReferencePriceSet {
                    instrument,
                    price,
                }));
            }
            RiskCommand::SetRestricted {
                operator,
                account,
                instrument,
                restricted,
            } => {
                if !known(self, operator) {
                    return control_reject(sink, RejectReason::NotAuthorized);
                }
                if account.0 >= self.config.accounts_max {
                    return control_reject(sink, RejectReason::UnknownAccount);
                }
                if self.instruments.get(instrument).is_none() {
                    return control_reject(sink, RejectReason::UnknownInstrument);
                }
                self.risk
                    .restricted
                    .set(account.0, instrument.0, restricted);
                sink.emit(Event::Risk(RiskEvent::RestrictionSet {
                    account,
                    instrument,
                    restricted,
                }));
            }
            RiskCommand::Kill {
                operator,
                scope,
                reason,
            } => {
                if !known(self, operator) {
                    return control_reject(sink, RejectReason::NotAuthorized);
                }
                if let Err(reason) = self.kill_scope_valid(scope) {
                    return control_reject(sink, reason);
                }
                self.activate_kill(
                    scope,
                    KillTrigger::Operator,
                    reason,
                    operator,
                    (0, 0),
                    CancelReason::KillSwitch,
                    sink,
                );
            }
            RiskCommand::CancelOnDisconnect { session } => {
                let scope = KillScope::Session(session);
                if let Err(reason) = self.kill_scope_valid(scope) {
                    return control_reject(sink, reason);
                }
                self.activate_kill(
                    scope,
                    KillTrigger::Gateway,
                    KillReason::SessionDisconnected,
                    OperatorId(0),
                    (0, 0),
                    CancelReason::CancelOnDisconnect,
                    sink,
                );
            }
            RiskCommand::Approve { operator, action } => self.approve(now, operator, action, sink),
            RiskCommand::RevokeBypasses { operator, account } => {
                if !known(self, operator) {
                    return control_reject(sink, RejectReason::NotAuthorized);
                }
                if account.0 >= self.config.accounts_max {
                    return control_reject(sink, RejectReason::UnknownAccount);
                }
                self.risk.revoke_bypasses(account);
                sink.emit(Event::Risk(RiskEvent::BypassesRevoked { account }));
            }
        }
    }

    fn kill_scope_valid(&self, scope: KillScope) -> Result<(), RejectReason> {
        if self.risk.kills.index(scope).is_some() {
            return Ok(());
        }
        Err(match scope {
            KillScope::Global | KillScope::Instrument(_) => RejectReason::UnknownInstrument,
            KillScope::Account(_) => RejectReason::UnknownAccount,
            KillScope::Strategy(_) => RejectReason::UnknownStrategy,
            KillScope::Session(_) => RejectReason::UnknownSession,
        })
    }

    fn approve<S: EventSink>(
        &mut self,
        now: TimestampNs,
        operator: OperatorId,
        action: ApprovalAction,
        sink: &mut S,
    ) {
        use crate::risk::approvals::Outcome;
        let refuse = |sink: &mut S, refusal| {
            sink.emit(Event::Risk(RiskEvent::ApprovalRefused {
                action,
                operator,
                refusal,
            }));
        };
        let role = self.risk.role(operator);
        match role {
            None => return refuse(sink, ApprovalRefusal::UnknownOperator),
            Some(OperatorRole::Admin) => return refuse(sink, ApprovalRefusal::WrongRole),
            Some(OperatorRole::RiskManager) => {}
        }
        let applicable = match action {
            ApprovalAction::Release(scope) => self.risk.kills.get(scope).is_some_and(|s| s.active),
            ApprovalAction::Bypass { account, .. } => account.0 < self.config.accounts_max,
        };
        if !applicable {
            return refuse(sink, ApprovalRefusal::NotApplicable);
        }
        match self.risk.approvals.approve(now, operator, role, action) {
            Outcome::Requested { expires_at } => {
                sink.emit(Event::Risk(RiskEvent::ApprovalRequested {
                    action,
                    operator,
                    expires_at,
                }));
            }
            Outcome::Recorded { approvals } => {
                sink.emit(Event::Risk(RiskEvent::ApprovalRecorded {
                    action,
                    operator,
                    approvals,
                }));
            }
            Outcome::Refused(refusal) => refuse(sink, refusal),
            Outcome::Granted => {
                sink.emit(Event::Risk(RiskEvent::ApprovalGranted { action, operator }));
                match action {
                    ApprovalAction::Release(scope) => {
                        let index = self.risk.kills.index(scope).expect("checked applicable");
                        self.risk.kills.release(index);
                        sink.emit(Event::Risk(RiskEvent::KillSwitchReleased {
                            scope,
                            operator,
                        }));
                    }
                    ApprovalAction::Bypass { account, check } => {
                        self.risk.grant_bypass(account, check);
                    }
                }
            }
        }
    }

    // ----- kill switch --------------------------------------------------------------------------

    /// Emits the activation, latches the switch (not for the gateway's cancel on disconnect:
    /// a session that reconnects may trade again) and cancels every live order in scope.
    /// Returns how many orders were cancelled.
    #[allow(clippy::too_many_arguments)]
    fn activate_kill<S: EventSink>(
        &mut self,
        scope: KillScope,
        trigger: KillTrigger,
        reason: KillReason,
        operator: OperatorId,
        (figure, limit): (i64, i64),
        cancel_reason: CancelReason,
        sink: &mut S,
    ) -> u32 {
        let index = self.risk.kills.index(scope).expect("scope checked");
        sink.emit(Event::Risk(RiskEvent::KillSwitchActivated {
            scope,
            trigger,
            reason,
            operator,
            figure,
            limit,
        }));
        if trigger != KillTrigger::Gateway {
            self.risk.kills.activate(
                index,
                crate::risk::kill_switch::Switch {
                    active: true,
                    trigger,
                    reason,
                    operator,
                    activated_at: self.risk.now,
                },
            );
        }
        self.cancel_scope(scope, cancel_reason, sink)
    }

    /// Cancels every live order in scope: list scopes walk their own intrusive list in
    /// acceptance order; an instrument walks its four ladders best level first.
    ///
    /// Three paths, one event stream: a scope holding every live order (global, or a list
    /// scope as long as the global list) reports each order and then resets the books in
    /// bulk; an instrument drops whole levels; other list scopes unlink order by order but
    /// leave emptied levels in their ladders for one compaction pass at the end.
    fn cancel_scope<S: EventSink>(
        &mut self,
        scope: KillScope,
        reason: CancelReason,
        sink: &mut S,
    ) -> u32 {
        let (list, next_of): (crate::orders::ListEnds, fn(&Slot) -> u32) = match scope {
            KillScope::Global => (self.orders.all, |s| s.all_next),
            KillScope::Account(a) => (self.orders.accounts[a.0 as usize], |s| s.account_next),
            KillScope::Strategy(s) => (self.orders.strategies[s.0 as usize], |s| s.strategy_next),
            KillScope::Session(x) => (self.orders.sessions[x.0 as usize], |s| s.session_next),
            KillScope::Instrument(i) => return self.cancel_instrument(i.0 as usize, reason, sink),
        };
        if list.len == self.orders.live_count() {
            // Same orders as the global list, hence the same acceptance order.
            return self.cancel_everything(reason, sink);
        }
        let mut count = 0u32;
        let mut cursor = list.head;
        // Bounded: each step removes one live order of the list.
        while cursor != NIL {
            let slot = self.orders.get(cursor);
            let next = next_of(slot);
            sink.emit(Event::Cancelled {
                order_id: slot.id,
                instrument: slot.instrument,
                qty: slot.leaves,
                reason,
            });
            self.unlink_with(cursor, true);
            self.remove_order(cursor);
            count += 1;
            cursor = next;
        }
        debug_assert_eq!(count, list.len);
        for book in &mut self.books {
            for ladder in book.sides.iter_mut().chain(book.stops.iter_mut()) {
                if ladder.empty_levels {
                    ladder.remove_empty(&mut self.levels);
                }
            }
        }
        count
    }

    /// Every live order goes: report each in acceptance order, then reset the ladders, the
    /// level pool, the arena and the open exposure in bulk (O(orders) event writes plus
    /// a few memsets, instead of per-order unlinking, unindexing and release).
    fn cancel_everything<S: EventSink>(&mut self, reason: CancelReason, sink: &mut S) -> u32 {
        let mut count = 0u32;
        let mut cursor = self.orders.all.head;
        // Bounded: the global list holds `live_count` orders.
        while cursor != NIL {
            let slot = self.orders.get(cursor);
            let next = slot.all_next;
            sink.emit(Event::Cancelled {
                order_id: slot.id,
                instrument: slot.instrument,
                qty: slot.leaves,
                reason,
            });
            if cfg!(debug_assertions) {
                // The incremental release, so that the bulk reset below is checked against it.
                self.risk.on_remove(cursor, self.orders.get(cursor));
            } else {
                self.risk.forget(cursor);
            }
            count += 1;
            cursor = next;
        }
        debug_assert_eq!(count, self.orders.live_count());
        debug_assert!(!cfg!(debug_assertions) || self.risk.no_open());
        self.risk.release_all_open();
        for book in &mut self.books {
            for ladder in book.sides.iter_mut().chain(book.stops.iter_mut()) {
                ladder.clear();
            }
        }
        self.levels.release_all();
        self.orders.remove_all();
        // Every entry names a dead order now.
        self.expiries.clear();
        count
    }

    /// Every live order of one instrument goes, ladder by ladder, best level first, each
    /// level in time priority; whole levels are dropped rather than unlinked order by order.
    fn cancel_instrument<S: EventSink>(
        &mut self,
        book: usize,
        reason: CancelReason,
        sink: &mut S,
    ) -> u32 {
        let mut count = 0u32;
        for ladder in 0..4 {
            let levels = if ladder < 2 {
                self.books[book].sides[ladder].len()
            } else {
                self.books[book].stops[ladder - 2].len()
            };
            // Bounded: by the ladder's levels, and each level by its order count.
            for rank in 0..levels {
                let b = &self.books[book];
                let ladder_ref = if ladder < 2 {
                    &b.sides[ladder]
                } else {
                    &b.stops[ladder - 2]
                };
                let level_index = ladder_ref.level_at(levels - 1 - rank);
                let mut cursor = self.levels.get(level_index).head;
                while cursor != NIL {
                    let slot = self.orders.get_mut(cursor);
                    let next = slot.next;
                    sink.emit(Event::Cancelled {
                        order_id: slot.id,
                        instrument: slot.instrument,
                        qty: slot.leaves,
                        reason,
                    });
                    slot.level = NIL;
                    slot.prev = NIL;
                    slot.next = NIL;
                    slot.in_stop_book = false;
                    self.remove_order(cursor);
                    count += 1;
                    cursor = next;
                }
                let level = self.levels.get_mut(level_index);
                level.count = 0;
                level.head = NIL;
                level.tail = NIL;
                self.levels.release(level_index);
            }
            let b = &mut self.books[book];
            if ladder < 2 {
                b.sides[ladder].clear();
            } else {
                b.stops[ladder - 2].clear();
            }
        }
        count
    }

    // ----- read-outs ----------------------------------------------------------------------------

    /// A kill switch's state (`None` when the id is out of range).
    #[must_use]
    pub fn kill_status(&self, scope: KillScope) -> Option<KillStatus> {
        let switch = self.risk.kills.get(scope)?;
        Some(KillStatus {
            active: switch.active,
            trigger: switch.trigger,
            reason: switch.reason,
            operator: switch.operator,
            activated_at: switch.activated_at,
            pending_release: self.risk.approvals.find(ApprovalAction::Release(scope)),
        })
    }

    /// Requests waiting for approvals, oldest first.
    pub fn pending_approvals(&self) -> impl Iterator<Item = PendingApproval> + '_ {
        self.risk.approvals.iter()
    }

    /// How much of the limit in force for (scope, instrument, kind) is used; `None` when no
    /// limit is set there. With an instrument, the limit is the tighter of the scope's
    /// general and per-instrument values.
    #[must_use]
    pub fn risk_utilisation(
        &self,
        scope: RiskScope,
        instrument: Option<InstrumentId>,
        kind: LimitKind,
    ) -> Option<Utilisation> {
        let entity = self.risk.entities.of(scope)?;
        let limit = match instrument {
            Some(i) => self.risk.limits.get(entity, i, kind),
            None => self.risk.limits.get_exact(entity, None, kind),
        };
        (limit != NO_LIMIT).then(|| Utilisation {
            scope,
            instrument,
            kind,
            used: self.risk.used(scope, instrument, kind),
            limit,
        })
    }

    /// Utilisation of every limit set, for metrics (not for the order path: it allocates).
    #[must_use]
    pub fn risk_utilisations(&self) -> Vec<Utilisation> {
        self.risk
            .limits
            .rows()
            .map(|(entity, instrument, kind, limit)| {
                let scope = self.risk.entities.scope(entity);
                Utilisation {
                    scope,
                    instrument,
                    kind,
                    used: self.risk.used(scope, instrument, kind),
                    limit,
                }
            })
            .collect()
    }

    /// Net position of a firm, account or strategy in an instrument.
    #[must_use]
    pub fn position(&self, scope: RiskScope, instrument: InstrumentId) -> Option<i64> {
        let holder = self.risk.holder_of(scope)?;
        (instrument.0 < self.risk.instruments)
            .then(|| self.risk.exposures.get(holder, instrument.0).position)
    }

    /// Daily P&L (realised + unrealised at the last trade price) of a firm, account or
    /// strategy.
    #[must_use]
    pub fn daily_pnl(&self, scope: RiskScope) -> Option<i128> {
        let holder = self.risk.holder_of(scope)?;
        Some(self.risk.exposures.daily_pnl(holder, &self.risk.marks))
    }

    /// Gross open notional (Σ price × leaves of live orders) of a firm, account or strategy.
    #[must_use]
    pub fn open_notional(&self, scope: RiskScope) -> Option<i128> {
        let holder = self.risk.holder_of(scope)?;
        Some(self.risk.exposures.open_notional[holder as usize])
    }

    /// The reference price used by the price-deviation check: the operator's, else the last
    /// trade.
    #[must_use]
    pub fn reference_price(&self, instrument: InstrumentId) -> Option<Price> {
        (instrument.0 < self.risk.instruments)
            .then(|| self.risk.reference_price(instrument.0).map(Price))
            .flatten()
    }
}

fn new_order_facts(order: &NewOrder) -> OrderFacts {
    OrderFacts {
        instrument: order.instrument.0,
        account: order.account.0,
        strategy: order.strategy.0,
        session: order.session.0,
        side: order.side,
        ord_type: order.ord_type,
        price: if matches!(order.ord_type, OrdType::Limit | OrdType::StopLimit) {
            order.price.0
        } else {
            0
        },
        stop_price: if matches!(order.ord_type, OrdType::Stop | OrdType::StopLimit) {
            order.stop_price.0
        } else {
            0
        },
        qty: order.qty.0,
        client_ref: order.client_ref,
    }
}
