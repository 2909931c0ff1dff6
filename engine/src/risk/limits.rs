//! The limit table: a dense row of limits per scope entity, plus a fixed-capacity
//! open-addressing table of per-instrument rows. Lookups are O(1) and allocation-free.

use super::{LimitKind, RiskScope, LIMIT_KINDS, NO_LIMIT};
use crate::digest::Digest;
use crate::types::{AccountId, FirmId, InstrumentId, SessionId, StrategyId};

/// The dense ids of every scope level, laid end to end:
/// `[global][firms][accounts][strategies][sessions]`.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Entities {
    pub firms: u32,
    pub accounts: u32,
    pub strategies: u32,
    pub sessions: u32,
}

impl Entities {
    pub const GLOBAL: u32 = 0;

    pub fn count(self) -> u32 {
        1 + self.firms + self.accounts + self.strategies + self.sessions
    }

    #[inline]
    pub fn firm(self, firm: u32) -> u32 {
        1 + firm
    }
    #[inline]
    pub fn account(self, account: u32) -> u32 {
        1 + self.firms + account
    }
    #[inline]
    pub fn strategy(self, strategy: u32) -> u32 {
        1 + self.firms + self.accounts + strategy
    }
    #[inline]
    pub fn session(self, session: u32) -> u32 {
        1 + self.firms + self.accounts + self.strategies + session
    }

    /// The entity of a scope, if its id is in range.
    pub fn of(self, scope: RiskScope) -> Option<u32> {
        match scope {
            RiskScope::Global => Some(Self::GLOBAL),
            RiskScope::Firm(FirmId(f)) => (f < self.firms).then(|| self.firm(f)),
            RiskScope::Account(AccountId(a)) => (a < self.accounts).then(|| self.account(a)),
            RiskScope::Strategy(StrategyId(s)) => (s < self.strategies).then(|| self.strategy(s)),
            RiskScope::Session(SessionId(x)) => (x < self.sessions).then(|| self.session(x)),
        }
    }

    /// The scope of an entity.
    pub fn scope(self, entity: u32) -> RiskScope {
        let mut rest = entity;
        if rest == 0 {
            return RiskScope::Global;
        }
        rest -= 1;
        if rest < self.firms {
            return RiskScope::Firm(FirmId(rest));
        }
        rest -= self.firms;
        if rest < self.accounts {
            return RiskScope::Account(AccountId(rest));
        }
        rest -= self.accounts;
        if rest < self.strategies {
            return RiskScope::Strategy(StrategyId(rest));
        }
        rest -= self.strategies;
        debug_assert!(rest < self.sessions);
        RiskScope::Session(SessionId(rest))
    }
}

const EMPTY_KEY: u64 = u64::MAX;

pub(crate) type Row = [u64; LIMIT_KINDS];

/// Limits by entity, and by (entity, instrument).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct LimitTable {
    generic: Vec<Row>,
    /// Entities whose generic row was ever written, in order of first write (for the digest
    /// and the utilisation read-out, so neither walks every entity).
    touched: Vec<u32>,
    touched_flag: Vec<bool>,
    /// Open addressing, linear probing, never deleted (a cleared limit keeps its row).
    /// Capacity is a power of two at least twice `specific_max`, so probes stay short.
    specific_keys: Vec<u64>,
    specific_rows: Vec<Row>,
    specific_len: u32,
    specific_max: u32,
    /// Per entity: how many per-instrument rows it has (zero skips the hash lookup).
    specific_per_entity: Vec<u32>,
    /// Per kind: how many rows hold a value; zero lets the check skip the kind entirely.
    kind_set: [u32; LIMIT_KINDS],
    /// The sum of `kind_set`: zero lets the check skip gathering limits at all.
    set_total: u32,
}

impl LimitTable {
    pub fn new(entities: u32, specific_max: u32) -> Self {
        let capacity = (specific_max.max(1) as usize * 2).next_power_of_two();
        LimitTable {
            generic: vec![[NO_LIMIT; LIMIT_KINDS]; entities as usize],
            touched: Vec::with_capacity(entities as usize),
            touched_flag: vec![false; entities as usize],
            specific_keys: vec![EMPTY_KEY; capacity],
            specific_rows: vec![[NO_LIMIT; LIMIT_KINDS]; capacity],
            specific_len: 0,
            specific_max,
            specific_per_entity: vec![0; entities as usize],
            kind_set: [0; LIMIT_KINDS],
            set_total: 0,
        }
    }

    #[inline]
    fn key(entity: u32, instrument: InstrumentId) -> u64 {
        (u64::from(entity) << 32) | u64::from(instrument.0)
    }

    #[inline]
    fn probe_start(&self, key: u64) -> usize {
        let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 32) as usize & (self.specific_keys.len() - 1)
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn find(&self, key: u64) -> usize {
        let mask = self.specific_keys.len() - 1;
        let mut position = self.probe_start(key);
        // Bounded: the table is never more than half full.
        for _ in 0..self.specific_keys.len() {
            let found = self.specific_keys[position];
            if found == key || found == EMPTY_KEY {
                return position;
            }
            position = (position + 1) & mask;
        }
        unreachable!("limit table never more than half full")
    }

    /// Entities whose general row was ever written, by position (allocation-free walk).
    pub fn touched(&self) -> &[u32] {
        &self.touched
    }

    /// Whether any row holds a value of this kind.
    #[inline]
    pub fn any(&self, kind: LimitKind) -> bool {
        self.kind_set[kind.index()] != 0
    }

    /// The limit of `kind` for `entity` and `instrument`: the tighter of its generic and its
    /// per-instrument value. [`NO_LIMIT`] when neither is set.
    #[inline]
    pub fn get(&self, entity: u32, instrument: InstrumentId, kind: LimitKind) -> u64 {
        let generic = self.generic[entity as usize][kind.index()];
        if self.specific_per_entity[entity as usize] == 0 {
            return generic;
        }
        let position = self.find(Self::key(entity, instrument));
        if self.specific_keys[position] == EMPTY_KEY {
            return generic;
        }
        generic.min(self.specific_rows[position][kind.index()])
    }

    /// Whether any limit of any kind is set.
    #[inline]
    pub fn any_set(&self) -> bool {
        debug_assert_eq!(self.set_total, self.kind_set.iter().sum::<u32>());
        self.set_total != 0
    }

    /// Every kind's limit for `entity` and `instrument` at once: what [`Self::get`] gives per
    /// kind, with one generic row read and at most one probe.
    #[inline(always)]
    pub fn row(&self, entity: u32, instrument: InstrumentId) -> Row {
        let mut row = self.generic[entity as usize];
        if self.specific_per_entity[entity as usize] != 0 {
            let position = self.find(Self::key(entity, instrument));
            if self.specific_keys[position] != EMPTY_KEY {
                for (cell, &specific) in row.iter_mut().zip(&self.specific_rows[position]) {
                    *cell = (*cell).min(specific);
                }
            }
        }
        row
    }

    /// The limit exactly as set on this row (no tightening), for read-outs.
    pub fn get_exact(&self, entity: u32, instrument: Option<InstrumentId>, kind: LimitKind) -> u64 {
        match instrument {
            None => self.generic[entity as usize][kind.index()],
            Some(instrument) => {
                let position = self.find(Self::key(entity, instrument));
                if self.specific_keys[position] == EMPTY_KEY {
                    NO_LIMIT
                } else {
                    self.specific_rows[position][kind.index()]
                }
            }
        }
    }

    /// Sets one limit.
    ///
    /// # Errors
    /// When a new per-instrument row is needed and `instrument_limits_max` rows exist.
    pub fn set(
        &mut self,
        entity: u32,
        instrument: Option<InstrumentId>,
        kind: LimitKind,
        value: u64,
    ) -> Result<(), ()> {
        let cell = match instrument {
            None => {
                if !self.touched_flag[entity as usize] {
                    self.touched_flag[entity as usize] = true;
                    self.touched.push(entity);
                }
                &mut self.generic[entity as usize][kind.index()]
            }
            Some(instrument) => {
                let key = Self::key(entity, instrument);
                let position = self.find(key);
                if self.specific_keys[position] == EMPTY_KEY {
                    if self.specific_len >= self.specific_max {
                        return Err(());
                    }
                    self.specific_keys[position] = key;
                    self.specific_len += 1;
                    self.specific_per_entity[entity as usize] += 1;
                }
                &mut self.specific_rows[position][kind.index()]
            }
        };
        let old = *cell;
        *cell = value;
        if old == NO_LIMIT && value != NO_LIMIT {
            self.kind_set[kind.index()] += 1;
            self.set_total += 1;
        } else if old != NO_LIMIT && value == NO_LIMIT {
            self.kind_set[kind.index()] -= 1;
            self.set_total -= 1;
        }
        Ok(())
    }

    /// Every row that holds a value: (entity, instrument, kind, value), for read-outs.
    pub fn rows(&self) -> impl Iterator<Item = (u32, Option<InstrumentId>, LimitKind, u64)> + '_ {
        let generic = self.touched.iter().flat_map(move |&entity| {
            LimitKind::ALL.iter().filter_map(move |&kind| {
                let value = self.generic[entity as usize][kind.index()];
                (value != NO_LIMIT).then_some((entity, None, kind, value))
            })
        });
        let specific = self
            .specific_keys
            .iter()
            .zip(&self.specific_rows)
            .filter(|(&key, _)| key != EMPTY_KEY)
            .flat_map(|(&key, row)| {
                let entity = (key >> 32) as u32;
                let instrument = InstrumentId(key as u32);
                LimitKind::ALL.iter().filter_map(move |&kind| {
                    let value = row[kind.index()];
                    (value != NO_LIMIT).then_some((entity, Some(instrument), kind, value))
                })
            });
        generic.chain(specific)
    }

    pub fn digest(&self, digest: &mut Digest) {
        for (entity, instrument, kind, value) in self.rows() {
            digest.u64(u64::from(entity));
            digest.u64(instrument.map_or(u64::MAX, |i| u64::from(i.0)));
            digest.u64(kind as u64);
            digest.u64(value);
        }
    }
}

impl LimitTable {
    /// Gives every table the capacity of `like` (a fresh instance under the same configuration).
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        crate::engine::snapshot::refit(&mut self.generic, &like.generic, "limits")?;
        crate::engine::snapshot::refit(&mut self.touched, &like.touched, "limits touched")?;
        crate::engine::snapshot::refit(
            &mut self.touched_flag,
            &like.touched_flag,
            "limits touched flags",
        )?;
        crate::engine::snapshot::refit(
            &mut self.specific_keys,
            &like.specific_keys,
            "instrument limit keys",
        )?;
        crate::engine::snapshot::refit(
            &mut self.specific_rows,
            &like.specific_rows,
            "instrument limits",
        )?;
        crate::engine::snapshot::refit(
            &mut self.specific_per_entity,
            &like.specific_per_entity,
            "instrument limit counts",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightest_of_generic_and_specific() {
        let mut table = LimitTable::new(4, 4);
        let i0 = InstrumentId(0);
        let i1 = InstrumentId(1);
        assert_eq!(table.get(1, i0, LimitKind::MaxOrderQty), NO_LIMIT);
        assert!(!table.any(LimitKind::MaxOrderQty));
        table.set(1, None, LimitKind::MaxOrderQty, 100).unwrap();
        table.set(1, Some(i1), LimitKind::MaxOrderQty, 10).unwrap();
        assert!(table.any(LimitKind::MaxOrderQty));
        assert_eq!(table.get(1, i0, LimitKind::MaxOrderQty), 100);
        assert_eq!(table.get(1, i1, LimitKind::MaxOrderQty), 10);
        table
            .set(1, Some(i1), LimitKind::MaxOrderQty, 1000)
            .unwrap();
        assert_eq!(table.get(1, i1, LimitKind::MaxOrderQty), 100);
        table
            .set(1, None, LimitKind::MaxOrderQty, NO_LIMIT)
            .unwrap();
        table
            .set(1, Some(i1), LimitKind::MaxOrderQty, NO_LIMIT)
            .unwrap();
        assert!(!table.any(LimitKind::MaxOrderQty));
    }

    #[test]
    fn specific_rows_are_bounded() {
        let mut table = LimitTable::new(2, 2);
        for instrument in 0..2 {
            table
                .set(0, Some(InstrumentId(instrument)), LimitKind::MaxOrderQty, 1)
                .unwrap();
        }
        assert!(table
            .set(0, Some(InstrumentId(9)), LimitKind::MaxOrderQty, 1)
            .is_err());
        // An existing row can still change.
        table
            .set(0, Some(InstrumentId(1)), LimitKind::MaxOrderQty, 5)
            .unwrap();
    }

    #[test]
    fn entity_round_trip() {
        let entities = Entities {
            firms: 2,
            accounts: 3,
            strategies: 4,
            sessions: 5,
        };
        for entity in 0..entities.count() {
            assert_eq!(entities.of(entities.scope(entity)), Some(entity));
        }
        assert_eq!(entities.of(RiskScope::Account(AccountId(3))), None);
    }
}
