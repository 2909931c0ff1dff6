//! The two-person rule: a release or bypass takes effect when `required` distinct risk
//! managers approved it within the window (command timestamps). Requests live in a fixed
//! table; the first approval opens one, later commands expire it.

use super::APPROVALS_REQUIRED_MAX;
use super::{ApprovalAction, ApprovalRefusal, OperatorId, OperatorRole, PendingApproval};
use crate::digest::Digest;
use crate::types::TimestampNs;

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Pending {
    pub action: ApprovalAction,
    pub requested_at: TimestampNs,
    pub approvers: [OperatorId; APPROVALS_REQUIRED_MAX as usize],
    pub count: u8,
}

/// What one approval did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Outcome {
    /// Opened a request.
    Requested { expires_at: TimestampNs },
    /// Added to one.
    Recorded { approvals: u8 },
    /// Completed one: the caller performs the action.
    Granted,
    /// Refused; nothing changed.
    Refused(ApprovalRefusal),
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Approvals {
    required: u32,
    window_ns: u64,
    pending_max: usize,
    pending: Vec<Pending>,
}

impl Approvals {
    pub fn new(required: u32, window_ns: u64, pending_max: u32) -> Self {
        assert!(
            (1..=APPROVALS_REQUIRED_MAX).contains(&required),
            "approvals_required must be 1..={APPROVALS_REQUIRED_MAX}"
        );
        Approvals {
            required,
            window_ns,
            pending_max: pending_max as usize,
            pending: Vec::with_capacity(pending_max as usize),
        }
    }

    #[inline]
    pub fn any_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// One approval by `operator` (whose role is `role`, `None` when unknown).
    pub fn approve(
        &mut self,
        now: TimestampNs,
        operator: OperatorId,
        role: Option<OperatorRole>,
        action: ApprovalAction,
    ) -> Outcome {
        match role {
            None => return Outcome::Refused(ApprovalRefusal::UnknownOperator),
            Some(OperatorRole::Admin) => return Outcome::Refused(ApprovalRefusal::WrongRole),
            Some(OperatorRole::RiskManager) => {}
        }
        if let Some(position) = self.pending.iter().position(|p| p.action == action) {
            let pending = &mut self.pending[position];
            if pending.approvers[..usize::from(pending.count)].contains(&operator) {
                return Outcome::Refused(ApprovalRefusal::SameOperator);
            }
            pending.approvers[usize::from(pending.count)] = operator;
            pending.count += 1;
            if u32::from(pending.count) >= self.required {
                self.pending.remove(position);
                return Outcome::Granted;
            }
            return Outcome::Recorded {
                approvals: pending.count,
            };
        }
        if self.required == 1 {
            return Outcome::Granted;
        }
        if self.pending.len() >= self.pending_max {
            return Outcome::Refused(ApprovalRefusal::TooManyPending);
        }
        let mut approvers = [OperatorId(0); APPROVALS_REQUIRED_MAX as usize];
        approvers[0] = operator;
        self.pending.push(Pending {
            action,
            requested_at: now,
            approvers,
            count: 1,
        });
        Outcome::Requested {
            expires_at: TimestampNs(now.0.saturating_add(self.window_ns)),
        }
    }

    /// Drops requests whose window has passed at `now`, oldest first, reporting each.
    pub fn expire(&mut self, now: TimestampNs, mut expired: impl FnMut(ApprovalAction, u8)) {
        let window_ns = self.window_ns;
        // Bounded by `pending_max`.
        let mut index = 0;
        while index < self.pending.len() {
            let pending = self.pending[index];
            if now.0 > pending.requested_at.0.saturating_add(window_ns) {
                self.pending.remove(index);
                expired(pending.action, pending.count);
            } else {
                index += 1;
            }
        }
    }

    /// A pending request for `action`, if any.
    pub fn find(&self, action: ApprovalAction) -> Option<PendingApproval> {
        self.pending
            .iter()
            .find(|p| p.action == action)
            .map(|p| self.view(p))
    }

    fn view(&self, pending: &Pending) -> PendingApproval {
        PendingApproval {
            action: pending.action,
            requested_at: pending.requested_at,
            expires_at: TimestampNs(pending.requested_at.0.saturating_add(self.window_ns)),
            approvals: u32::from(pending.count),
            requested_by: pending.approvers[0],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = PendingApproval> + '_ {
        self.pending.iter().map(|p| self.view(p))
    }

    pub fn digest(&self, digest: &mut Digest) {
        digest.u64(self.pending.len() as u64);
        for pending in &self.pending {
            digest.u64(super::command::action_code(pending.action));
            digest.u64(pending.requested_at.0);
            for approver in &pending.approvers[..usize::from(pending.count)] {
                digest.u64(u64::from(approver.0));
            }
        }
    }
}

impl Approvals {
    /// Gives every table the capacity of `like` (a fresh instance under the same configuration).
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        crate::engine::snapshot::refit(&mut self.pending, &like.pending, "approvals")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::KillScope;

    const RELEASE: ApprovalAction = ApprovalAction::Release(KillScope::Global);
    const RM: Option<OperatorRole> = Some(OperatorRole::RiskManager);

    #[test]
    fn two_distinct_risk_managers_within_the_window() {
        let mut approvals = Approvals::new(2, 100, 4);
        assert_eq!(
            approvals.approve(TimestampNs(10), OperatorId(1), RM, RELEASE),
            Outcome::Requested {
                expires_at: TimestampNs(110)
            }
        );
        assert_eq!(
            approvals.approve(TimestampNs(20), OperatorId(1), RM, RELEASE),
            Outcome::Refused(ApprovalRefusal::SameOperator)
        );
        assert_eq!(
            approvals.approve(
                TimestampNs(20),
                OperatorId(2),
                Some(OperatorRole::Admin),
                RELEASE
            ),
            Outcome::Refused(ApprovalRefusal::WrongRole)
        );
        assert_eq!(
            approvals.approve(TimestampNs(20), OperatorId(3), None, RELEASE),
            Outcome::Refused(ApprovalRefusal::UnknownOperator)
        );
        assert_eq!(
            approvals.approve(TimestampNs(110), OperatorId(4), RM, RELEASE),
            Outcome::Granted
        );
        assert!(!approvals.any_pending());
    }

    #[test]
    fn expiry() {
        let mut approvals = Approvals::new(2, 100, 4);
        approvals.approve(TimestampNs(10), OperatorId(1), RM, RELEASE);
        let mut seen = Vec::new();
        approvals.expire(TimestampNs(110), |action, n| seen.push((action, n)));
        assert!(seen.is_empty());
        approvals.expire(TimestampNs(111), |action, n| seen.push((action, n)));
        assert_eq!(seen, vec![(RELEASE, 1)]);
        assert!(!approvals.any_pending());
    }
}
