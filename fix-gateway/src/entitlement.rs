//! Which accounts a FIX session may act for.
//!
//! Every order, cancel, replace, status request, mass cancel and position request names an
//! account (explicitly with Account (1), or through the order it targets). The gateway checks
//! it against the session's entitlement before anything becomes a command. The check runs on
//! every request, so it is built for the hot path: names resolve through a hash map built at
//! start-up ([`AccountNames`]) and the test itself is one bit of a per-session bitset over
//! account ids ([`Entitlement`]). Neither allocates after construction.
//!
//! # Example
//! ```
//! use arbiter_fix::entitlement::{AccountNames, Entitlement};
//! let names = AccountNames::new([("ACC1", 1), ("ACC2", 2)], 64);
//! let mut entitled = Entitlement::new(64);
//! entitled.grant(1);
//! assert_eq!(names.id(b"ACC1"), Some(1));
//! assert!(entitled.allows(1));
//! assert!(!entitled.allows(2));
//! assert!(!entitled.allows(4_000_000)); // beyond the venue's accounts: never entitled
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The accounts one session may act for: one bit per account id, sized for the venue's
/// `accounts_max` at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entitlement {
    words: Box<[u64]>,
}

impl Entitlement {
    /// No account yet, room for ids below `accounts_max`.
    #[must_use]
    pub fn new(accounts_max: u32) -> Self {
        Entitlement {
            words: vec![0; (accounts_max as usize).div_ceil(64)].into_boxed_slice(),
        }
    }

    /// Adds an account.
    ///
    /// # Panics
    /// When `account` is not below the `accounts_max` given to [`Entitlement::new`]: the
    /// configuration check refuses such ids, so reaching this is a bug.
    pub fn grant(&mut self, account: u32) {
        let word = (account / 64) as usize;
        assert!(
            word < self.words.len(),
            "account {account} beyond accounts_max"
        );
        self.words[word] |= 1 << (account % 64);
    }

    /// Whether the session may act for `account`. O(1), no allocation, no branch on the
    /// number of accounts; an id beyond the table is never entitled.
    #[inline]
    #[must_use]
    pub fn allows(&self, account: u32) -> bool {
        self.words
            .get((account / 64) as usize)
            .is_some_and(|word| (word >> (account % 64)) & 1 == 1)
    }

    /// The entitled ids, ascending (start-up and reports, not the order path).
    pub fn accounts(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            (0..64u32)
                .filter(move |bit| (word >> bit) & 1 == 1)
                .map(move |bit| index as u32 * 64 + bit)
        })
    }
}

/// FNV-1a: account names are a few bytes long and chosen by the venue, so a fast hash with
/// no per-process key is enough (no attacker controls the table's contents; a client's
/// lookup of an unknown name costs one hash and one probe).
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Account names (FIX Account (1) values) and ids, both ways, built at start-up.
#[derive(Clone, Debug, Default)]
pub struct AccountNames {
    by_name: HashMap<Box<[u8]>, u32, BuildHasherDefault<Fnv1a>>,
    by_id: Vec<Option<Box<str>>>,
}

impl AccountNames {
    /// A table of these `(name, id)` pairs; ids at or beyond `accounts_max` are left out
    /// (the configuration check refuses them).
    pub fn new<'a>(accounts: impl IntoIterator<Item = (&'a str, u32)>, accounts_max: u32) -> Self {
        let mut names = AccountNames {
            by_name: HashMap::default(),
            by_id: vec![None; accounts_max as usize],
        };
        for (name, id) in accounts {
            if let Some(slot) = names.by_id.get_mut(id as usize) {
                *slot = Some(name.into());
                names.by_name.insert(name.as_bytes().into(), id);
            }
        }
        names
    }

    /// The id of an account name; `None` for a name not in the table.
    #[inline]
    #[must_use]
    pub fn id(&self, name: &[u8]) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The name of an account id.
    #[must_use]
    pub fn name(&self, id: u32) -> Option<&str> {
        self.by_id.get(id as usize).and_then(Option::as_deref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_grants_exactly_the_listed_accounts() {
        let mut entitled = Entitlement::new(130);
        for account in [0, 63, 64, 129] {
            entitled.grant(account);
        }
        for account in 0..200 {
            assert_eq!(
                entitled.allows(account),
                [0, 63, 64, 129].contains(&account),
                "{account}"
            );
        }
        assert_eq!(entitled.accounts().collect::<Vec<_>>(), [0, 63, 64, 129]);
        assert!(!Entitlement::new(0).allows(0));
    }

    #[test]
    #[should_panic(expected = "beyond accounts_max")]
    fn granting_beyond_the_table_is_a_bug() {
        Entitlement::new(64).grant(64);
    }

    #[test]
    fn names_resolve_both_ways() {
        let names = AccountNames::new([("ACC1", 1), ("ALGO1", 3), ("TOO-BIG", 99)], 8);
        assert_eq!(names.id(b"ACC1"), Some(1));
        assert_eq!(names.id(b"ALGO1"), Some(3));
        assert_eq!(names.id(b"ACC"), None);
        assert_eq!(names.id(b"TOO-BIG"), None);
        assert_eq!(names.name(3), Some("ALGO1"));
        assert_eq!(names.name(2), None);
        assert_eq!(names.name(99), None);
    }
}
