//! The risk state of one engine and the pre-trade checks. Called by the engine hooks in
//! `engine_hooks.rs`; everything is sized at construction.

use super::approvals::Approvals;
use super::compliance::{ClientRefError, ClientRefs, Restricted};
use super::kill_switch::KillSwitches;
use super::limits::{Entities, LimitTable, Row};
use super::positions::Exposures;
use super::velocity::Rings;
use super::{
    AutoKill, KillReason, KillScope, KillTrigger, LimitKind, OperatorRole, RiskCheck, RiskConfig,
    RiskEvent, RiskScope, TradingHours, LIMIT_KINDS, NO_LIMIT,
};
use crate::config::EngineConfig;
use crate::digest::Digest;
use crate::instrument::InstrumentRegistry;
use crate::orders::Slot;
use crate::reason::RejectReason;
use crate::types::{
    AccountId, FirmId, InstrumentId, OrdType, Price, Side, StrategyId, TimestampNs,
};

/// The (tag, id) of a kill scope, as journaled.
pub(crate) fn kill_scope_parts(scope: KillScope) -> (u8, u32) {
    match scope {
        KillScope::Global => (0, 0),
        KillScope::Instrument(i) => (1, i.0),
        KillScope::Account(a) => (2, a.0),
        KillScope::Strategy(s) => (3, s.0),
        KillScope::Session(x) => (4, x.0),
    }
}

/// What an order looks like to the checks (a new order, or a replace's new terms).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderFacts {
    pub instrument: u32,
    pub account: u32,
    pub strategy: u32,
    pub session: u32,
    pub side: Side,
    pub ord_type: OrdType,
    /// Limit price (Limit, StopLimit), else 0.
    pub price: i64,
    /// Stop price (Stop, StopLimit), else 0.
    pub stop_price: i64,
    /// New open quantity.
    pub qty: u64,
    pub client_ref: u64,
}

/// What a live order contributes to its holders' open quantity and notional.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Registered {
    pub qty: u64,
    pub price: i64,
}

/// The limits in force for one order, gathered once per check: per kind, the tighter of the
/// generic and per-instrument value of each entity the order belongs to.
struct OrderLimits {
    /// `[global, firm, account, strategy, session]`.
    rows: [Row; 5],
}

impl OrderLimits {
    const NONE: OrderLimits = OrderLimits {
        rows: [[NO_LIMIT; LIMIT_KINDS]; 5],
    };
    const FIRM: usize = 1;
    const ACCOUNT: usize = 2;
    const STRATEGY: usize = 3;
    const SESSION: usize = 4;

    /// The tightest per-order limit over global, firm, account and strategy.
    #[inline]
    fn tightest(&self, kind: LimitKind) -> u64 {
        self.rows[..=Self::STRATEGY]
            .iter()
            .map(|row| row[kind.index()])
            .min()
            .unwrap_or(NO_LIMIT)
    }

    #[inline]
    fn get(&self, row: usize, kind: LimitKind) -> u64 {
        self.rows[row][kind.index()]
    }
}

/// A holder's daily P&L as last computed, valid while `epoch` is the current one.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
struct PnlCache {
    epoch: u64,
    pnl: i128,
}

/// A kill the rules asked for, fired after the command's own events.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct PendingKill {
    pub scope: KillScope,
    pub trigger: KillTrigger,
    pub reason: KillReason,
    pub figure: i64,
    pub limit: i64,
}

/// Bound on risk notices and automatic kills queued by one command: one order check
/// raises at most three loss breaches and two velocity kills.
const QUEUED_MAX: usize = 16;

/// All risk state.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Risk {
    pub entities: Entities,
    pub instruments: u32,
    account_firm: Vec<u32>,
    operators: Vec<super::Operator>,
    hours: Vec<Option<TradingHours>>,
    pub limits: LimitTable,
    /// Holders `[firms][accounts][strategies]`.
    pub exposures: Exposures,
    /// Per holder: the daily loss limit was breached today (latched until end of day).
    breached: Vec<bool>,
    breached_count: u32,
    /// Per order slot.
    registered: Vec<Registered>,
    /// Per instrument: operator reference price, 0 when unset.
    reference: Vec<i64>,
    /// Per instrument: last trade price, 0 before the first trade.
    pub marks: Vec<i64>,
    velocity_window_ns: u64,
    /// Scopes `[accounts][sessions]`.
    messages: Rings,
    orders: Rings,
    pub restricted: Restricted,
    client_refs: ClientRefs,
    pub kills: KillSwitches,
    pub approvals: Approvals,
    /// Per account: bypassed checks (bits of [`RiskCheck`]) until end of day.
    pub bypass: Vec<u16>,
    bypass_count: u32,
    pub auto_kill: AutoKill,
    /// Holders filled during this command whose loss/position rules must be evaluated.
    dirty: Vec<u32>,
    dirty_flag: Vec<bool>,
    /// A trade moved a mark during this command: every daily-loss limit is re-evaluated.
    marks_moved: bool,
    /// Bumped whenever a mark, cash or position may have changed (every fill, end of day):
    /// cached daily P&L from an older epoch is recomputed. Derived state, not digested.
    pnl_epoch: u64,
    /// Per holder.
    pnl_cache: Vec<PnlCache>,
    pub notices: Vec<RiskEvent>,
    pub pending_kills: Vec<PendingKill>,
    /// The latest command timestamp (for read-outs of rate windows).
    pub now: TimestampNs,
}

impl Risk {
    /// Builds the state; panics on an inconsistent configuration (see `RiskConfig::validate`).
    pub fn new(config: &EngineConfig, registry: &InstrumentRegistry, risk: &RiskConfig) -> Self {
        if let Err(message) = risk.validate(config, registry) {
            panic!("invalid risk configuration: {message}");
        }
        let instruments = u32::try_from(registry.len()).expect("instrument count fits u32");
        let entities = Entities {
            firms: risk.firms_max,
            accounts: config.accounts_max,
            strategies: config.strategies_max,
            sessions: config.sessions_max,
        };
        let holders = entities.firms + entities.accounts + entities.strategies;
        let scopes = entities.accounts + entities.sessions;
        let mut account_firm = vec![0; config.accounts_max as usize];
        for &(account, firm) in &risk.account_firms {
            account_firm[account.0 as usize] = firm.0;
        }
        let mut hours = vec![None; registry.len()];
        for &(instrument, h) in &risk.trading_hours {
            hours[instrument.0 as usize] = Some(h);
        }
        let mut state = Risk {
            entities,
            instruments,
            account_firm,
            operators: risk.operators.clone(),
            hours,
            limits: LimitTable::new(entities.count(), risk.instrument_limits_max),
            exposures: Exposures::new(holders, instruments),
            breached: vec![false; holders as usize],
            breached_count: 0,
            registered: vec![Registered::default(); config.orders_max as usize],
            reference: vec![0; registry.len()],
            marks: vec![0; registry.len()],
            velocity_window_ns: risk.velocity_window_ns,
            messages: Rings::new(scopes, risk.velocity_events_max),
            orders: Rings::new(scopes, risk.velocity_events_max),
            restricted: Restricted::new(config.accounts_max, instruments),
            client_refs: ClientRefs::new(config.sessions_max, risk.client_refs_per_session_max),
            kills: KillSwitches::new(
                instruments,
                config.accounts_max,
                config.strategies_max,
                config.sessions_max,
            ),
            approvals: Approvals::new(
                risk.approvals_required,
                risk.approval_window_ns,
                risk.approvals_pending_max,
            ),
            bypass: vec![0; config.accounts_max as usize],
            bypass_count: 0,
            auto_kill: risk.auto_kill,
            dirty: Vec::with_capacity(holders as usize),
            dirty_flag: vec![false; holders as usize],
            marks_moved: false,
            pnl_epoch: 1,
            pnl_cache: vec![PnlCache::default(); holders as usize],
            notices: Vec::with_capacity(QUEUED_MAX),
            pending_kills: Vec::with_capacity(QUEUED_MAX),
            now: TimestampNs(0),
        };
        for setting in &risk.limits {
            state
                .set_limit(
                    setting.scope,
                    setting.instrument,
                    setting.kind,
                    setting.value,
                )
                .expect("validated");
        }
        for &(account, instrument) in &risk.restricted {
            state.restricted.set(account.0, instrument.0, true);
        }
        state
    }

    // ----- ids -----------------------------------------------------------------------------

    #[inline]
    pub fn firm_of(&self, account: u32) -> u32 {
        self.account_firm[account as usize]
    }

    #[inline]
    fn holder_firm(&self, firm: u32) -> u32 {
        firm
    }
    #[inline]
    fn holder_account(&self, account: u32) -> u32 {
        self.entities.firms + account
    }
    #[inline]
    fn holder_strategy(&self, strategy: u32) -> u32 {
        self.entities.firms + self.entities.accounts + strategy
    }

    /// The holders of an order, with the row of each in [`OrderLimits`], narrowest first.
    #[inline]
    fn holder_rows(&self, account: u32, strategy: u32) -> [(u32, usize); 3] {
        let firm = self.firm_of(account);
        [
            (self.holder_strategy(strategy), OrderLimits::STRATEGY),
            (self.holder_account(account), OrderLimits::ACCOUNT),
            (self.holder_firm(firm), OrderLimits::FIRM),
        ]
    }

    /// Daily P&L of a holder, from the cache when nothing moved since it was computed.
    #[inline]
    fn daily_pnl_cached(&mut self, holder: u32) -> i128 {
        let cache = self.pnl_cache[holder as usize];
        if cache.epoch == self.pnl_epoch {
            debug_assert_eq!(cache.pnl, self.exposures.daily_pnl(holder, &self.marks));
            return cache.pnl;
        }
        let pnl = self.exposures.daily_pnl(holder, &self.marks);
        self.pnl_cache[holder as usize] = PnlCache {
            epoch: self.pnl_epoch,
            pnl,
        };
        pnl
    }

    /// The holders of an order, with the limit entity of each, narrowest first.
    #[inline]
    fn holders(&self, account: u32, strategy: u32) -> [(u32, u32); 3] {
        let firm = self.firm_of(account);
        [
            (
                self.holder_strategy(strategy),
                self.entities.strategy(strategy),
            ),
            (self.holder_account(account), self.entities.account(account)),
            (self.holder_firm(firm), self.entities.firm(firm)),
        ]
    }

    /// The scope of a holder.
    pub fn holder_scope(&self, holder: u32) -> RiskScope {
        let firms = self.entities.firms;
        let accounts = self.entities.accounts;
        if holder < firms {
            RiskScope::Firm(FirmId(holder))
        } else if holder < firms + accounts {
            RiskScope::Account(AccountId(holder - firms))
        } else {
            RiskScope::Strategy(StrategyId(holder - firms - accounts))
        }
    }

    /// The holder of a firm, account or strategy scope.
    pub fn holder_of(&self, scope: RiskScope) -> Option<u32> {
        match scope {
            RiskScope::Firm(f) if f.0 < self.entities.firms => Some(self.holder_firm(f.0)),
            RiskScope::Account(a) if a.0 < self.entities.accounts => Some(self.holder_account(a.0)),
            RiskScope::Strategy(s) if s.0 < self.entities.strategies => {
                Some(self.holder_strategy(s.0))
            }
            _ => None,
        }
    }

    pub fn role(&self, operator: super::OperatorId) -> Option<OperatorRole> {
        self.operators
            .iter()
            .find(|o| o.id == operator)
            .map(|o| o.role)
    }

    // ----- prices --------------------------------------------------------------------------

    /// The reference for deviation and market notional: the operator's, else the last trade.
    #[inline]
    pub fn reference_price(&self, instrument: u32) -> Option<i64> {
        let reference = self.reference[instrument as usize];
        let price = if reference != 0 {
            reference
        } else {
            self.marks[instrument as usize]
        };
        (price != 0).then_some(price)
    }

    pub fn set_reference(&mut self, instrument: InstrumentId, price: Price) {
        self.reference[instrument.0 as usize] = price.0;
    }

    /// The price an order's notional is counted at.
    #[inline]
    fn notional_price(&self, facts: &OrderFacts) -> Option<i64> {
        match facts.ord_type {
            OrdType::Limit | OrdType::StopLimit => Some(facts.price),
            OrdType::Stop => Some(facts.stop_price),
            OrdType::Market => self.reference_price(facts.instrument),
        }
    }

    // ----- limits --------------------------------------------------------------------------

    /// Sets a limit after checking it may exist.
    ///
    /// # Errors
    /// The reject reason when the scope, kind or value is not allowed or the table is full.
    pub fn set_limit(
        &mut self,
        scope: RiskScope,
        instrument: Option<InstrumentId>,
        kind: LimitKind,
        value: u64,
    ) -> Result<(), RejectReason> {
        let entity = self.entities.of(scope).ok_or(match scope {
            RiskScope::Account(_) => RejectReason::UnknownAccount,
            _ => RejectReason::InvalidOrder,
        })?;
        if let Some(instrument) = instrument {
            if instrument.0 >= self.instruments {
                return Err(RejectReason::UnknownInstrument);
            }
        }
        if !kind.applies_to(scope, instrument.is_some()) {
            return Err(RejectReason::InvalidOrder);
        }
        if matches!(
            kind,
            LimitKind::OrdersPerWindow | LimitKind::MessagesPerWindow
        ) && value != NO_LIMIT
            && value >= u64::from(self.orders.capacity())
        {
            return Err(RejectReason::InvalidOrder);
        }
        self.limits
            .set(entity, instrument, kind, value)
            .map_err(|()| RejectReason::BookFull)
    }

    #[inline]
    fn velocity_enabled(&self) -> bool {
        self.limits.any(LimitKind::OrdersPerWindow) || self.limits.any(LimitKind::MessagesPerWindow)
    }

    // ----- checks --------------------------------------------------------------------------

    /// Step 1 of the risk checks (after the phase): trading hours and kill switches.
    /// Ids other than strategy and session are in range.
    #[inline]
    pub fn gate(&self, now: TimestampNs, facts: &OrderFacts) -> Result<(), RejectReason> {
        if facts.strategy >= self.entities.strategies {
            return Err(RejectReason::UnknownStrategy);
        }
        if facts.session >= self.entities.sessions {
            return Err(RejectReason::UnknownSession);
        }
        if let Some(hours) = self.hours[facts.instrument as usize] {
            if !hours.contains(now.0)
                && self.bypass[facts.account as usize] & RiskCheck::TradingHours.bit() == 0
            {
                return Err(RejectReason::OutsideTradingHours);
            }
        }
        if self.kills.blocks(
            facts.instrument,
            facts.account,
            facts.strategy,
            facts.session,
        ) {
            return Err(RejectReason::KillSwitchActive);
        }
        Ok(())
    }

    /// Steps 2–8 for an order that passed every matching check. `replacing` is the live
    /// order's current contribution (a replace is checked as if that order were gone).
    /// On success a new order is counted for velocity and its ClOrdID remembered.
    #[allow(clippy::too_many_lines)]
    pub fn check(
        &mut self,
        now: TimestampNs,
        facts: &OrderFacts,
        tick_size: i64,
        replacing: Option<Registered>,
    ) -> Result<(), RejectReason> {
        // Nothing configured (the default): every step below would pass without effect.
        if !self.limits.any_set()
            && self.breached_count == 0
            && !self.restricted.any()
            && !self.client_refs.enabled()
        {
            return Ok(());
        }
        let instrument = InstrumentId(facts.instrument);
        let firm = self.firm_of(facts.account);
        // Gathered once, only when some limit exists (every use below is behind `any(kind)`).
        let gathered;
        let limits = if self.limits.any_set() {
            gathered = OrderLimits {
                rows: [
                    self.limits.row(Entities::GLOBAL, instrument),
                    self.limits.row(self.entities.firm(firm), instrument),
                    self.limits
                        .row(self.entities.account(facts.account), instrument),
                    self.limits
                        .row(self.entities.strategy(facts.strategy), instrument),
                    self.limits
                        .row(self.entities.session(facts.session), instrument),
                ],
            };
            &gathered
        } else {
            &OrderLimits::NONE
        };
        let limit_of = |row: usize, kind: LimitKind| limits.get(row, kind);
        let tightest = |kind: LimitKind| limits.tightest(kind);
        let bypass = self.bypass[facts.account as usize];
        let skip = |check: RiskCheck| bypass & check.bit() != 0;
        let qty = i128::from(facts.qty);
        let notional_price = self.notional_price(facts);
        let notional = notional_price.map(|price| i128::from(price) * qty);
        let replaced = replacing.unwrap_or_default();
        let replaced_qty = i128::from(replaced.qty);
        let replaced_notional = i128::from(replaced.price) * replaced_qty;

        // 2. Order size.
        if !skip(RiskCheck::OrderSize) {
            if self.limits.any(LimitKind::MaxOrderQty) {
                let limit = tightest(LimitKind::MaxOrderQty);
                if facts.qty > limit {
                    return Err(RejectReason::RiskMaxOrderQty);
                }
            }
            if self.limits.any(LimitKind::MaxOrderNotional) {
                let limit = tightest(LimitKind::MaxOrderNotional);
                if limit != NO_LIMIT && notional.is_none_or(|n| n > i128::from(limit)) {
                    return Err(RejectReason::RiskMaxOrderNotional);
                }
            }
        }

        // 3. Price deviation from the reference (limit prices only; no reference: no check).
        if !skip(RiskCheck::PriceDeviation)
            && matches!(facts.ord_type, OrdType::Limit | OrdType::StopLimit)
            && (self.limits.any(LimitKind::PriceDeviationBps)
                || self.limits.any(LimitKind::PriceDeviationTicks))
        {
            if let Some(reference) = self.reference_price(facts.instrument) {
                let distance = (i128::from(facts.price) - i128::from(reference)).abs();
                let bps = tightest(LimitKind::PriceDeviationBps);
                if bps != NO_LIMIT && distance * 10_000 > i128::from(bps) * i128::from(reference) {
                    return Err(RejectReason::RiskPriceDeviation);
                }
                let ticks = tightest(LimitKind::PriceDeviationTicks);
                if ticks != NO_LIMIT && distance > i128::from(ticks) * i128::from(tick_size) {
                    return Err(RejectReason::RiskPriceDeviation);
                }
            }
        }

        let holders = self.holder_rows(facts.account, facts.strategy);

        // 4. Position, worst case: every open order on the order's side fills.
        if !skip(RiskCheck::Position)
            && (self.limits.any(LimitKind::LongPosition)
                || self.limits.any(LimitKind::ShortPosition))
        {
            for &(holder, row) in &holders {
                let exposure = self.exposures.get(holder, facts.instrument);
                let position = i128::from(exposure.position);
                let (kind, worst) = match facts.side {
                    Side::Buy => (
                        LimitKind::LongPosition,
                        position + i128::from(exposure.open_buy) - replaced_qty + qty,
                    ),
                    Side::Sell => (
                        LimitKind::ShortPosition,
                        i128::from(exposure.open_sell) - replaced_qty + qty - position,
                    ),
                };
                let limit = limit_of(row, kind);
                if limit != NO_LIMIT && worst > i128::from(limit) {
                    return Err(RejectReason::RiskPositionLimit);
                }
            }
        }

        // 5. Credit: gross open notional.
        if !skip(RiskCheck::Credit) && self.limits.any(LimitKind::OpenNotional) {
            for &(holder, row) in &holders {
                let limit = limit_of(row, LimitKind::OpenNotional);
                if limit == NO_LIMIT {
                    continue;
                }
                let open = self.exposures.open_notional[holder as usize] - replaced_notional;
                if notional.is_none_or(|n| open + n > i128::from(limit)) {
                    return Err(RejectReason::RiskCreditLimit);
                }
            }
        }

        // 6. Daily loss (new orders only: a replace cannot add loss it has not got).
        if !skip(RiskCheck::DailyLoss) && replacing.is_none() {
            for &(holder, row) in &holders {
                if self.breached_count != 0 && self.breached[holder as usize] {
                    return Err(RejectReason::RiskDailyLoss);
                }
                if !self.limits.any(LimitKind::DailyLoss) {
                    continue;
                }
                let limit = limit_of(row, LimitKind::DailyLoss);
                if limit == NO_LIMIT {
                    continue;
                }
                let pnl = self.daily_pnl_cached(holder);
                if pnl < -i128::from(limit) {
                    self.breach_daily_loss(holder, pnl, limit);
                    return Err(RejectReason::RiskDailyLoss);
                }
            }
        }

        // 7. Velocity, per account and per session.
        if !skip(RiskCheck::Velocity) && self.velocity_enabled() {
            let scopes = [
                (
                    facts.account,
                    OrderLimits::ACCOUNT,
                    KillScope::Account(AccountId(facts.account)),
                ),
                (
                    self.entities.accounts + facts.session,
                    OrderLimits::SESSION,
                    KillScope::Session(crate::types::SessionId(facts.session)),
                ),
            ];
            for (ring, row, kill_scope) in scopes {
                let messages = limit_of(row, LimitKind::MessagesPerWindow);
                let breach = if messages != NO_LIMIT
                    && self
                        .messages
                        .at_least(ring, messages + 1, now.0, self.velocity_window_ns)
                {
                    Some(messages)
                } else {
                    let orders = limit_of(row, LimitKind::OrdersPerWindow);
                    (orders != NO_LIMIT
                        && replacing.is_none()
                        && self
                            .orders
                            .at_least(ring, orders, now.0, self.velocity_window_ns))
                    .then_some(orders)
                };
                if let Some(limit) = breach {
                    if self.auto_kill.velocity {
                        self.queue_kill(PendingKill {
                            scope: kill_scope,
                            trigger: KillTrigger::Velocity,
                            reason: KillReason::VelocityBreach,
                            figure: saturate(i128::from(limit) + 1),
                            limit: saturate(i128::from(limit)),
                        });
                    }
                    return Err(RejectReason::RiskVelocity);
                }
            }
        }

        // 8. Compliance.
        if !skip(RiskCheck::Restricted) && self.restricted.contains(facts.account, facts.instrument)
        {
            return Err(RejectReason::RiskRestrictedInstrument);
        }
        let client_ref_position = match self.client_refs.check(facts.session, facts.client_ref) {
            Ok(position) => position,
            Err(ClientRefError::Duplicate) => return Err(RejectReason::RiskDuplicateClOrdId),
            Err(ClientRefError::Full) => return Err(RejectReason::RiskClOrdIdCapacity),
        };

        // Passed: remember.
        if let Some(position) = client_ref_position {
            self.client_refs
                .insert_at(facts.session, position, facts.client_ref);
        }
        if replacing.is_none() && self.velocity_enabled() {
            self.orders.record(facts.account, now.0);
            self.orders
                .record(self.entities.accounts + facts.session, now.0);
        }
        Ok(())
    }

    fn breach_daily_loss(&mut self, holder: u32, pnl: i128, limit: u64) {
        if !self.breached[holder as usize] {
            self.breached[holder as usize] = true;
            self.breached_count += 1;
        }
        let scope = self.holder_scope(holder);
        self.queue_notice(RiskEvent::LimitBreached {
            scope,
            kind: LimitKind::DailyLoss,
            figure: saturate(pnl),
            limit: saturate(-i128::from(limit)),
        });
        if self.auto_kill.daily_loss {
            let kill_scope = match scope {
                RiskScope::Account(a) => Some(KillScope::Account(a)),
                RiskScope::Strategy(s) => Some(KillScope::Strategy(s)),
                _ => None,
            };
            if let Some(scope) = kill_scope {
                self.queue_kill(PendingKill {
                    scope,
                    trigger: KillTrigger::DailyLoss,
                    reason: KillReason::DailyLossBreach,
                    figure: saturate(pnl),
                    limit: saturate(-i128::from(limit)),
                });
            }
        }
    }

    fn queue_notice(&mut self, event: RiskEvent) {
        assert!(
            self.notices.len() < self.notices.capacity(),
            "notice queue bound"
        );
        self.notices.push(event);
    }

    fn queue_kill(&mut self, kill: PendingKill) {
        assert!(
            self.pending_kills.len() < self.pending_kills.capacity(),
            "kill queue bound"
        );
        self.pending_kills.push(kill);
    }

    /// Whether anything waits for the end of the command.
    #[inline]
    pub fn has_work(&self) -> bool {
        !self.notices.is_empty()
            || !self.pending_kills.is_empty()
            || !self.dirty.is_empty()
            || self.marks_moved
    }

    /// After a command with trades: re-marks every scope with a daily loss limit (a price
    /// move hurts holders that did not trade), then checks the positions of holders that
    /// traded when the position rule may kill. Queues notices and kills.
    pub fn evaluate_dirty(&mut self) {
        if self.marks_moved && self.limits.any(LimitKind::DailyLoss) {
            // Bounded by the entities that have limits; in order of their first limit.
            for position in 0..self.limits.touched().len() {
                let entity = self.limits.touched()[position];
                let limit = self.limits.get_exact(entity, None, LimitKind::DailyLoss);
                let Some(holder) = self.holder_of(self.entities.scope(entity)) else {
                    continue;
                };
                if limit == NO_LIMIT || self.breached[holder as usize] {
                    continue;
                }
                let pnl = self.exposures.daily_pnl(holder, &self.marks);
                if pnl < -i128::from(limit) {
                    self.breach_daily_loss(holder, pnl, limit);
                }
            }
        }
        self.marks_moved = false;
        // Bounded by the number of holders (each is queued once).
        while let Some(holder) = self.dirty.pop() {
            self.dirty_flag[holder as usize] = false;
            let entity = self
                .entities
                .of(self.holder_scope(holder))
                .expect("holder in range");
            if self.auto_kill.position {
                self.evaluate_position(holder, entity);
            }
        }
    }

    fn evaluate_position(&mut self, holder: u32, entity: u32) {
        let scope = self.holder_scope(holder);
        let kill_scope = match scope {
            RiskScope::Account(a) => KillScope::Account(a),
            RiskScope::Strategy(s) => KillScope::Strategy(s),
            _ => return,
        };
        if self.kills.get(kill_scope).is_some_and(|s| s.active) {
            return;
        }
        for instrument in 0..self.instruments {
            let position = i128::from(self.exposures.get(holder, instrument).position);
            let long = self
                .limits
                .get(entity, InstrumentId(instrument), LimitKind::LongPosition);
            let short = self
                .limits
                .get(entity, InstrumentId(instrument), LimitKind::ShortPosition);
            let over = if long != NO_LIMIT && position > i128::from(long) {
                Some((LimitKind::LongPosition, i128::from(long)))
            } else if short != NO_LIMIT && -position > i128::from(short) {
                Some((LimitKind::ShortPosition, -i128::from(short)))
            } else {
                None
            };
            if let Some((kind, limit)) = over {
                self.queue_notice(RiskEvent::LimitBreached {
                    scope,
                    kind,
                    figure: saturate(position),
                    limit: saturate(limit),
                });
                self.queue_kill(PendingKill {
                    scope: kill_scope,
                    trigger: KillTrigger::PositionLimit,
                    reason: KillReason::PositionBreach,
                    figure: saturate(position),
                    limit: saturate(limit),
                });
                return;
            }
        }
    }

    // ----- exposure bookkeeping ---------------------------------------------------------------

    /// A message from an account and session arrived (counted for the message rate).
    #[inline]
    pub fn on_message(&mut self, now: TimestampNs, account: u32, session: u32) {
        if !self.velocity_enabled() {
            return;
        }
        if account < self.entities.accounts {
            self.messages.record(account, now.0);
        }
        if session < self.entities.sessions {
            self.messages
                .record(self.entities.accounts + session, now.0);
        }
    }

    /// An order entered the arena at `index`.
    #[inline]
    pub fn on_accept(&mut self, index: u32, slot: &Slot) {
        let facts = facts_of(slot);
        let price = self.notional_price(&facts).unwrap_or(0);
        self.register(
            index,
            slot,
            Registered {
                qty: slot.leaves.0,
                price,
            },
        );
    }

    fn register(&mut self, index: u32, slot: &Slot, registered: Registered) {
        debug_assert_eq!(self.registered[index as usize].qty, 0);
        self.registered[index as usize] = registered;
        let notional = i128::from(registered.price) * i128::from(registered.qty);
        for (holder, _) in self.holders(slot.account.0, slot.strategy.0) {
            self.exposures.add_open(
                holder,
                slot.instrument.0,
                slot.side,
                registered.qty,
                notional,
            );
        }
    }

    /// The order's open quantity shrank by `qty` without a fill (self-trade decrement).
    #[inline]
    pub fn on_reduce(&mut self, index: u32, slot: &Slot, qty: u64) {
        let registered = &mut self.registered[index as usize];
        let qty = qty.min(registered.qty);
        registered.qty -= qty;
        let notional = i128::from(registered.price) * i128::from(qty);
        for (holder, _) in self.holders(slot.account.0, slot.strategy.0) {
            self.exposures
                .remove_open(holder, slot.instrument.0, slot.side, qty, notional);
        }
    }

    /// The order left the arena: whatever it still contributes goes.
    #[inline]
    pub fn on_remove(&mut self, index: u32, slot: &Slot) {
        let qty = self.registered[index as usize].qty;
        if qty != 0 {
            self.on_reduce(index, slot, qty);
        }
        self.registered[index as usize] = Registered::default();
    }

    /// The order in `index` left in a bulk removal: forget its contribution; the caller
    /// then zeroes every holder's open figures at once with [`Self::release_all_open`].
    #[inline]
    pub fn forget(&mut self, index: u32) {
        self.registered[index as usize] = Registered::default();
    }

    /// Every live order was removed ([`Self::forget`] for each): no open quantity remains.
    pub fn release_all_open(&mut self) {
        self.exposures.clear_open();
    }

    /// Whether no open quantity or notional remains (debug check of the bulk path).
    pub fn no_open(&self) -> bool {
        self.exposures.no_open()
    }

    /// The order's terms changed (replace): its contribution is taken again from the slot.
    pub fn on_reregister(&mut self, index: u32, slot: &Slot) {
        self.on_remove(index, slot);
        self.on_accept(index, slot);
    }

    pub fn registered(&self, index: u32) -> Registered {
        self.registered[index as usize]
    }

    /// A fill of `qty` at `price` for the order in `index` (maker or taker).
    #[inline]
    pub fn on_fill(&mut self, index: u32, slot: &Slot, price: i64, qty: u64) {
        let instrument = slot.instrument.0;
        self.pnl_epoch += 1;
        self.marks[instrument as usize] = price;
        let registered = &mut self.registered[index as usize];
        debug_assert!(registered.qty >= qty);
        let open = qty.min(registered.qty);
        registered.qty -= open;
        let notional = i128::from(registered.price) * i128::from(open);
        self.marks_moved |= self.limits.any(LimitKind::DailyLoss);
        let watch = self.auto_kill.position
            && (self.limits.any(LimitKind::LongPosition)
                || self.limits.any(LimitKind::ShortPosition));
        for (holder, _) in self.holders(slot.account.0, slot.strategy.0) {
            self.exposures
                .remove_open(holder, instrument, slot.side, open, notional);
            self.exposures
                .fill(holder, instrument, slot.side, price, qty);
            if watch && !self.dirty_flag[holder as usize] {
                self.dirty_flag[holder as usize] = true;
                self.dirty.push(holder);
            }
        }
    }

    /// End of day: daily P&L restarts, breaches and bypasses end, ClOrdIDs are forgotten.
    pub fn end_of_day(&mut self) {
        self.exposures.end_of_day(&self.marks);
        self.pnl_epoch += 1;
        if self.breached_count != 0 {
            self.breached.fill(false);
            self.breached_count = 0;
        }
        if self.bypass_count != 0 {
            self.bypass.fill(0);
            self.bypass_count = 0;
        }
        self.client_refs.clear();
    }

    pub fn grant_bypass(&mut self, account: AccountId, check: RiskCheck) {
        let mask = &mut self.bypass[account.0 as usize];
        if *mask == 0 {
            self.bypass_count += 1;
        }
        *mask |= check.bit();
    }

    pub fn revoke_bypasses(&mut self, account: AccountId) {
        let mask = &mut self.bypass[account.0 as usize];
        if *mask != 0 {
            self.bypass_count -= 1;
        }
        *mask = 0;
    }

    // ----- read-outs -------------------------------------------------------------------------

    /// The figure a limit row measures, for utilisation.
    pub fn used(
        &self,
        scope: RiskScope,
        instrument: Option<InstrumentId>,
        kind: LimitKind,
    ) -> i128 {
        let now = self.now.0;
        match kind {
            LimitKind::MaxOrderQty
            | LimitKind::MaxOrderNotional
            | LimitKind::PriceDeviationBps
            | LimitKind::PriceDeviationTicks => 0,
            LimitKind::LongPosition | LimitKind::ShortPosition => {
                let Some(holder) = self.holder_of(scope) else {
                    return 0;
                };
                let worst = |instrument: u32| {
                    let e = self.exposures.get(holder, instrument);
                    let position = i128::from(e.position);
                    if kind == LimitKind::LongPosition {
                        position + i128::from(e.open_buy)
                    } else {
                        i128::from(e.open_sell) - position
                    }
                };
                match instrument {
                    Some(i) => worst(i.0),
                    None => (0..self.instruments).map(worst).max().unwrap_or(0),
                }
            }
            LimitKind::OpenNotional => self
                .holder_of(scope)
                .map_or(0, |holder| self.exposures.open_notional[holder as usize]),
            LimitKind::DailyLoss => self.holder_of(scope).map_or(0, |holder| {
                (-self.exposures.daily_pnl(holder, &self.marks)).max(0)
            }),
            LimitKind::OrdersPerWindow | LimitKind::MessagesPerWindow => {
                let ring = match scope {
                    RiskScope::Account(a) if a.0 < self.entities.accounts => a.0,
                    RiskScope::Session(x) if x.0 < self.entities.sessions => {
                        self.entities.accounts + x.0
                    }
                    _ => return 0,
                };
                let rings = if kind == LimitKind::OrdersPerWindow {
                    &self.orders
                } else {
                    &self.messages
                };
                i128::from(rings.in_window(ring, now, self.velocity_window_ns))
            }
        }
    }

    pub fn digest(&self, digest: &mut Digest) {
        self.limits.digest(digest);
        self.exposures.digest(digest);
        digest.u64(u64::from(self.breached_count));
        if self.breached_count != 0 {
            for (holder, _) in self.breached.iter().enumerate().filter(|(_, &b)| b) {
                digest.u64(holder as u64);
            }
        }
        for (&reference, &mark) in self.reference.iter().zip(&self.marks) {
            digest.i64(reference);
            digest.i64(mark);
        }
        self.messages.digest(digest);
        self.orders.digest(digest);
        self.restricted.digest(digest);
        self.client_refs.digest(digest);
        self.kills.digest(digest);
        self.approvals.digest(digest);
        digest.u64(u64::from(self.bypass_count));
        if self.bypass_count != 0 {
            for (account, &mask) in self.bypass.iter().enumerate().filter(|(_, &m)| m != 0) {
                digest.u64(account as u64);
                digest.u64(u64::from(mask));
            }
        }
    }
}

/// The facts of a live order.
#[inline]
pub(crate) fn facts_of(slot: &Slot) -> OrderFacts {
    OrderFacts {
        instrument: slot.instrument.0,
        account: slot.account.0,
        strategy: slot.strategy.0,
        session: slot.session.0,
        side: slot.side,
        ord_type: slot.ord_type,
        price: slot.price.0,
        stop_price: slot.stop_price.0,
        qty: slot.leaves.0,
        client_ref: slot.client_ref,
    }
}

/// An i128 figure for an event, clamped to i64.
pub(crate) fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

impl RiskConfig {
    /// Checks the configuration against the engine it will run in.
    ///
    /// # Errors
    /// A text naming the first inconsistency.
    pub fn validate(
        &self,
        config: &EngineConfig,
        registry: &InstrumentRegistry,
    ) -> Result<(), String> {
        if self.firms_max == 0 {
            return Err("firms_max must be positive".into());
        }
        if !(1..=super::APPROVALS_REQUIRED_MAX).contains(&self.approvals_required) {
            return Err(format!(
                "approvals_required must be 1..={}",
                super::APPROVALS_REQUIRED_MAX
            ));
        }
        for &(account, firm) in &self.account_firms {
            if account.0 >= config.accounts_max || firm.0 >= self.firms_max {
                return Err(format!(
                    "account {} / firm {} out of range",
                    account.0, firm.0
                ));
            }
        }
        for &(instrument, hours) in &self.trading_hours {
            if registry.get(instrument).is_none() {
                return Err(format!(
                    "trading hours for unknown instrument {}",
                    instrument.0
                ));
            }
            if hours.open_ns >= super::DAY_NS || hours.close_ns >= super::DAY_NS {
                return Err("trading hours are times of day (< 86400 s)".into());
            }
        }
        for &(account, instrument) in &self.restricted {
            if account.0 >= config.accounts_max || registry.get(instrument).is_none() {
                return Err("restriction out of range".into());
            }
        }
        let mut ids: Vec<u32> = self.operators.iter().map(|o| o.id.0).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err("duplicate operator id".into());
        }
        let specific = self
            .limits
            .iter()
            .filter(|l| l.instrument.is_some())
            .count();
        if specific > self.instrument_limits_max as usize {
            return Err("more per-instrument limits than instrument_limits_max".into());
        }
        for limit in &self.limits {
            if !limit
                .kind
                .applies_to(limit.scope, limit.instrument.is_some())
            {
                return Err(format!(
                    "limit {:?} cannot apply to {:?}",
                    limit.kind, limit.scope
                ));
            }
            if matches!(
                limit.kind,
                LimitKind::OrdersPerWindow | LimitKind::MessagesPerWindow
            ) && limit.value != NO_LIMIT
                && limit.value >= u64::from(self.velocity_events_max)
            {
                return Err("rate limits must be below velocity_events_max".into());
            }
            let entities = Entities {
                firms: self.firms_max,
                accounts: config.accounts_max,
                strategies: config.strategies_max,
                sessions: config.sessions_max,
            };
            if entities.of(limit.scope).is_none() {
                return Err(format!("limit scope {:?} out of range", limit.scope));
            }
            if limit.instrument.is_some_and(|i| registry.get(i).is_none()) {
                return Err("limit for unknown instrument".into());
            }
        }
        Ok(())
    }
}

impl Risk {
    /// Gives every table the capacity of `like` (a fresh instance under the same
    /// configuration), so that a restored state never allocates on the hot path.
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        if self.entities.count() != like.entities.count() || self.instruments != like.instruments {
            return Err("risk entities or instruments differ".to_owned());
        }
        crate::engine::snapshot::refit(
            &mut self.account_firm,
            &like.account_firm,
            "account firms",
        )?;
        crate::engine::snapshot::refit(&mut self.operators, &like.operators, "operators")?;
        crate::engine::snapshot::refit(&mut self.hours, &like.hours, "trading hours")?;
        crate::engine::snapshot::refit(&mut self.breached, &like.breached, "breaches")?;
        crate::engine::snapshot::refit(
            &mut self.registered,
            &like.registered,
            "registered orders",
        )?;
        crate::engine::snapshot::refit(&mut self.reference, &like.reference, "reference prices")?;
        crate::engine::snapshot::refit(&mut self.marks, &like.marks, "marks")?;
        crate::engine::snapshot::refit(&mut self.bypass, &like.bypass, "bypass")?;
        crate::engine::snapshot::refit(&mut self.dirty, &like.dirty, "dirty holders")?;
        crate::engine::snapshot::refit(&mut self.dirty_flag, &like.dirty_flag, "dirty flags")?;
        crate::engine::snapshot::refit(&mut self.pnl_cache, &like.pnl_cache, "P&L cache")?;
        crate::engine::snapshot::refit(&mut self.notices, &like.notices, "notices")?;
        crate::engine::snapshot::refit(
            &mut self.pending_kills,
            &like.pending_kills,
            "pending kills",
        )?;
        self.limits.refit(&like.limits)?;
        self.exposures.refit(&like.exposures)?;
        self.messages.refit(&like.messages)?;
        self.orders.refit(&like.orders)?;
        self.restricted.refit(&like.restricted)?;
        self.client_refs.refit(&like.client_refs)?;
        self.kills.refit(&like.kills)?;
        self.approvals.refit(&like.approvals)
    }
}
