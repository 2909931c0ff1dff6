//! Kill-switch state per scope. Activation and the cancels live in the engine hooks
//! (`engine_hooks.rs`); this is the latch and its fast "is anything in scope killed" test.

use super::{KillReason, KillScope, KillTrigger, OperatorId};
use crate::digest::Digest;
use crate::types::TimestampNs;

/// One scope's switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Switch {
    pub active: bool,
    pub trigger: KillTrigger,
    pub reason: KillReason,
    pub operator: OperatorId,
    pub activated_at: TimestampNs,
}

/// Switches of every scope: `[global][instruments][accounts][strategies][sessions]`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct KillSwitches {
    instruments: u32,
    accounts: u32,
    strategies: u32,
    sessions: u32,
    switches: Vec<Switch>,
    /// Active switches; zero makes the order-path test one comparison.
    active: u32,
    touched: Vec<u32>,
    touched_flag: Vec<bool>,
}

impl KillSwitches {
    pub fn new(instruments: u32, accounts: u32, strategies: u32, sessions: u32) -> Self {
        let count = 1 + instruments + accounts + strategies + sessions;
        KillSwitches {
            instruments,
            accounts,
            strategies,
            sessions,
            switches: vec![Switch::default(); count as usize],
            active: 0,
            touched: Vec::with_capacity(count as usize),
            touched_flag: vec![false; count as usize],
        }
    }

    /// The index of a scope, if its id is in range.
    pub fn index(&self, scope: KillScope) -> Option<u32> {
        let (base, id, bound) = match scope {
            KillScope::Global => return Some(0),
            KillScope::Instrument(i) => (1, i.0, self.instruments),
            KillScope::Account(a) => (1 + self.instruments, a.0, self.accounts),
            KillScope::Strategy(s) => (1 + self.instruments + self.accounts, s.0, self.strategies),
            KillScope::Session(x) => (
                1 + self.instruments + self.accounts + self.strategies,
                x.0,
                self.sessions,
            ),
        };
        (id < bound).then_some(base + id)
    }

    pub fn get(&self, scope: KillScope) -> Option<&Switch> {
        self.index(scope)
            .map(|index| &self.switches[index as usize])
    }

    /// Whether any switch covering an order with these ids is active. The ids are in range
    /// (checked before).
    #[inline]
    pub fn blocks(&self, instrument: u32, account: u32, strategy: u32, session: u32) -> bool {
        if self.active == 0 {
            return false;
        }
        let base_account = 1 + self.instruments;
        let base_strategy = base_account + self.accounts;
        let base_session = base_strategy + self.strategies;
        [
            0,
            1 + instrument,
            base_account + account,
            base_strategy + strategy,
            base_session + session,
        ]
        .iter()
        .any(|&index| self.switches[index as usize].active)
    }

    /// Latches a switch (again, if already active: the newest trigger is kept).
    pub fn activate(&mut self, index: u32, switch: Switch) {
        debug_assert!(switch.active);
        let slot = &mut self.switches[index as usize];
        if !slot.active {
            self.active += 1;
        }
        *slot = switch;
        if !self.touched_flag[index as usize] {
            self.touched_flag[index as usize] = true;
            self.touched.push(index);
        }
    }

    pub fn release(&mut self, index: u32) {
        let slot = &mut self.switches[index as usize];
        debug_assert!(slot.active);
        slot.active = false;
        self.active -= 1;
    }

    pub fn digest(&self, digest: &mut Digest) {
        digest.u64(u64::from(self.active));
        for &index in &self.touched {
            let switch = &self.switches[index as usize];
            digest.u64(u64::from(index));
            digest.u64(u64::from(switch.active));
            digest.u64(switch.trigger as u64);
            digest.u64(switch.reason as u64);
            digest.u64(u64::from(switch.operator.0));
            digest.u64(switch.activated_at.0);
        }
    }
}

impl KillSwitches {
    /// Gives every table the capacity of `like` (a fresh instance under the same configuration).
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        crate::engine::snapshot::refit(&mut self.switches, &like.switches, "kill switches")?;
        crate::engine::snapshot::refit(&mut self.touched, &like.touched, "kill switches touched")?;
        crate::engine::snapshot::refit(
            &mut self.touched_flag,
            &like.touched_flag,
            "kill switches touched flags",
        )
    }
}
