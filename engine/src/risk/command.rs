//! Risk commands (journaled like every other command) and risk events.

use super::{
    ApprovalAction, ApprovalRefusal, KillReason, KillScope, KillTrigger, LimitKind, OperatorId,
    RiskScope,
};
use crate::types::{AccountId, InstrumentId, Price, SessionId, TimestampNs};

/// A run-time change to risk state. Carried by [`CommandKind::Risk`](crate::CommandKind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RiskCommand {
    /// Set (or with [`NO_LIMIT`](super::NO_LIMIT) remove) a limit.
    SetLimit {
        /// Who (admin or risk manager).
        operator: OperatorId,
        /// Where.
        scope: RiskScope,
        /// Only this instrument, if set.
        instrument: Option<InstrumentId>,
        /// What.
        kind: LimitKind,
        /// The bound.
        value: u64,
    },
    /// Set an instrument's reference price (used before, and instead of, the last trade for
    /// price deviation and market-order notional). Zero clears it.
    SetReferencePrice {
        /// Who.
        operator: OperatorId,
        /// Which instrument.
        instrument: InstrumentId,
        /// The price.
        price: Price,
    },
    /// Restrict (or allow again) an instrument for an account.
    SetRestricted {
        /// Who.
        operator: OperatorId,
        /// Whose.
        account: AccountId,
        /// Which instrument.
        instrument: InstrumentId,
        /// Restricted or not.
        restricted: bool,
    },
    /// Activate a kill switch: refuse new orders in scope and cancel every live order in it.
    Kill {
        /// Who.
        operator: OperatorId,
        /// What.
        scope: KillScope,
        /// Why.
        reason: KillReason,
    },
    /// The gateway lost a session that asked for cancel on disconnect: cancel its orders.
    CancelOnDisconnect {
        /// Which session.
        session: SessionId,
    },
    /// One risk manager's approval of a release or bypass; the first one opens the request.
    Approve {
        /// Who.
        operator: OperatorId,
        /// What.
        action: ApprovalAction,
    },
    /// End an account's approved bypasses now (tightening needs one operator).
    RevokeBypasses {
        /// Who.
        operator: OperatorId,
        /// Whose.
        account: AccountId,
    },
}

/// Something risk-related happened. Carried by [`Event::Risk`](crate::Event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RiskEvent {
    /// A kill switch was activated; the cancels of the orders in scope follow.
    KillSwitchActivated {
        /// What it covers.
        scope: KillScope,
        /// What fired it.
        trigger: KillTrigger,
        /// Why (text: [`KillReason::text`]).
        reason: KillReason,
        /// The operator, for operator triggers (zero otherwise).
        operator: OperatorId,
        /// The rule's figure (P&L, count, position), zero for operator and gateway triggers.
        figure: i64,
        /// The rule's limit, zero for operator and gateway triggers.
        limit: i64,
    },
    /// A kill switch was released after its approvals.
    KillSwitchReleased {
        /// What it covered.
        scope: KillScope,
        /// The approval that completed the release.
        operator: OperatorId,
    },
    /// A limit was breached by the figure itself (not by an order): new orders in scope are
    /// refused for the day (daily loss) or the position is over its limit.
    LimitBreached {
        /// Where.
        scope: RiskScope,
        /// What.
        kind: LimitKind,
        /// The figure (P&L for daily loss, position, count).
        figure: i64,
        /// The limit.
        limit: i64,
    },
    /// A limit changed.
    LimitSet {
        /// Where.
        scope: RiskScope,
        /// Only this instrument, if set.
        instrument: Option<InstrumentId>,
        /// What.
        kind: LimitKind,
        /// The new bound.
        value: u64,
    },
    /// A reference price changed.
    ReferencePriceSet {
        /// Which instrument.
        instrument: InstrumentId,
        /// The price (zero: cleared).
        price: Price,
    },
    /// A restriction changed.
    RestrictionSet {
        /// Whose.
        account: AccountId,
        /// Which instrument.
        instrument: InstrumentId,
        /// Restricted or not.
        restricted: bool,
    },
    /// A new request for approval (carrying its first approval).
    ApprovalRequested {
        /// What.
        action: ApprovalAction,
        /// The first approver.
        operator: OperatorId,
        /// It expires after this time.
        expires_at: TimestampNs,
    },
    /// One more approval, not yet enough.
    ApprovalRecorded {
        /// What.
        action: ApprovalAction,
        /// Who.
        operator: OperatorId,
        /// Approvals so far.
        approvals: u8,
    },
    /// Enough approvals: the action takes effect now.
    ApprovalGranted {
        /// What.
        action: ApprovalAction,
        /// The last approver.
        operator: OperatorId,
    },
    /// An approval was refused; the request (if any) is unchanged.
    ApprovalRefused {
        /// What.
        action: ApprovalAction,
        /// Who.
        operator: OperatorId,
        /// Why.
        refusal: ApprovalRefusal,
    },
    /// A request ran out of time.
    ApprovalExpired {
        /// What.
        action: ApprovalAction,
        /// Approvals it had.
        approvals: u8,
    },
    /// An account's bypasses ended.
    BypassesRevoked {
        /// Whose.
        account: AccountId,
    },
}

const _: () = assert!(core::mem::size_of::<RiskEvent>() <= 48);
const _: () = assert!(core::mem::size_of::<RiskCommand>() <= 48);

/// A stable number for an approval action (digest and wire use the same fields).
pub(crate) fn action_code(action: ApprovalAction) -> u64 {
    match action {
        ApprovalAction::Release(scope) => {
            let (tag, id) = super::state::kill_scope_parts(scope);
            (u64::from(tag) << 32) | u64::from(id)
        }
        ApprovalAction::Bypass { account, check } => {
            (1u64 << 40) | (u64::from(check as u8) << 32) | u64::from(account.0)
        }
    }
}
