//! `[[shards]]`: the venue's instruments split into named shards, each its own leader and
//! standby with its own stream, journal and FIX listener (docs/cluster.md, "Shards"), and
//! the per-shard allowances of limits that span shards (firm gross notional, daily loss).
//!
//! Every shard's engine holds **every** instrument of the venue file (same registry, same
//! instrument ids on every shard, so one file serves all and replay stays deterministic);
//! the gateway refuses orders for instruments another shard owns before they reach the
//! sequencer, naming that shard.

use std::collections::BTreeMap;

use arbiter_engine::{LimitKind, RiskScope};
use serde::Deserialize;

use crate::{limit_kind, Config};

/// One shard: a name and the instruments it trades.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// Shard name, as in `cluster.shard` (letters, digits, `-`, `_`).
    pub name: String,
    /// Symbols this shard trades; each instrument of the venue is in exactly one shard.
    pub instruments: Vec<String>,
    /// This shard's part of limits that span shards.
    #[serde(default)]
    pub allowances: Vec<AllowanceConfig>,
}

/// A shard's part of a limit that spans shards: its engine enforces `value` where the
/// venue-wide `[[risk.limits]]` entry of the same scope and kind says the whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowanceConfig {
    /// "global", "firm:<id>", "account:<name>", "strategy:<id>" (as in `[[risk.limits]]`).
    pub scope: String,
    /// "open-notional" (gross open notional) or "daily-loss".
    pub kind: String,
    /// This shard's allowance, in engine units like the limit it splits.
    pub value: u64,
}

/// Limit kinds that a shard can enforce only on its own part: the ones summing over
/// instruments.
const SPLIT_KINDS: [&str; 2] = ["open-notional", "daily-loss"];

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Config {
    /// This node's shard: `cluster.shard` (`None` when not clustered).
    #[must_use]
    pub fn shard_name(&self) -> Option<&str> {
        self.cluster.as_ref().map(|c| c.shard.as_str())
    }

    /// Every shard of the venue, in configuration order: the `[[shards]]` names, or this
    /// node's own shard alone when none are configured (empty when not clustered).
    #[must_use]
    pub fn shard_names(&self) -> Vec<String> {
        if self.shards.is_empty() {
            self.shard_name().map(str::to_owned).into_iter().collect()
        } else {
            self.shards.iter().map(|s| s.name.clone()).collect()
        }
    }

    /// The shard that trades `symbol` (`None` without `[[shards]]`: one shard has all).
    #[must_use]
    pub fn owning_shard(&self, symbol: &str) -> Option<&str> {
        self.shards
            .iter()
            .find(|s| s.instruments.iter().any(|i| i == symbol))
            .map(|s| s.name.as_str())
    }

    /// Whether this node trades `symbol`: always without `[[shards]]`.
    #[must_use]
    pub fn owns(&self, symbol: &str) -> bool {
        self.shards.is_empty() || self.owning_shard(symbol) == self.shard_name()
    }

    /// Why this node refuses `symbol`: `instrument MSFT is traded on shard B, not on shard
    /// A`; `None` when it trades it.
    #[must_use]
    pub fn foreign_refusal(&self, symbol: &str) -> Option<String> {
        if self.owns(symbol) {
            return None;
        }
        let here = self.shard_name().unwrap_or("");
        Some(match self.owning_shard(symbol) {
            Some(there) => {
                format!("instrument {symbol} is traded on shard {there}, not on shard {here}")
            }
            None => format!("instrument {symbol} is traded on no shard"),
        })
    }

    /// [`Config::foreign_refusal`] for every instrument, by instrument index (the gateway
    /// keeps these texts so that a refusal formats nothing).
    #[must_use]
    pub fn foreign_refusals(&self) -> Vec<Option<String>> {
        self.instruments
            .iter()
            .map(|i| self.foreign_refusal(&i.symbol))
            .collect()
    }

    /// The symbols this node trades, in instrument order (part of the journal's identity:
    /// see [`Config::journal_compatible`]).
    #[must_use]
    pub fn owned_symbols(&self) -> Vec<&str> {
        self.instruments
            .iter()
            .map(|i| i.symbol.as_str())
            .filter(|s| self.owns(s))
            .collect()
    }

    /// This node's allowances as (scope, kind, value), parsed (empty without shards).
    pub(crate) fn own_allowances(&self) -> Vec<(RiskScope, LimitKind, u64)> {
        let Some(here) = self.shard_name() else {
            return Vec::new();
        };
        self.shards
            .iter()
            .filter(|s| s.name == here)
            .flat_map(|s| s.allowances.iter())
            .filter_map(|a| {
                Some((
                    self.risk_scope(&a.scope).ok()?,
                    limit_kind(&a.kind)?,
                    a.value,
                ))
            })
            .collect()
    }

    /// Every problem of `[[shards]]`, each naming its key path.
    pub(crate) fn shard_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.shards.is_empty() {
            return out;
        }
        match &self.cluster {
            None => out.push(
                "shards: configured, but there is no [cluster] section whose cluster.shard says \
                 which shard this node is"
                    .to_owned(),
            ),
            Some(cluster) => {
                if !self.shards.iter().any(|s| s.name == cluster.shard) {
                    out.push(format!(
                        "cluster.shard: {:?} is not a configured shard (shards: {})",
                        cluster.shard,
                        self.shard_names().join(", ")
                    ));
                }
            }
        }
        // Symbol -> (shard index, position) of its first listing.
        let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, shard) in self.shards.iter().enumerate() {
            let path = format!("shards[{i}]");
            if !is_name(&shard.name) {
                out.push(format!(
                    "{path}.name: {:?} must be letters, digits, '-' or '_'",
                    shard.name
                ));
            }
            if self.shards[..i].iter().any(|s| s.name == shard.name) {
                out.push(format!("{path}.name: duplicate shard {:?}", shard.name));
            }
            if shard.instruments.is_empty() {
                out.push(format!(
                    "{path}.instruments: shard {:?} has no instruments",
                    shard.name
                ));
            }
            for (j, symbol) in shard.instruments.iter().enumerate() {
                if !self.instruments.iter().any(|x| &x.symbol == symbol) {
                    out.push(format!("{path}.instruments[{j}]: no instrument {symbol:?}"));
                    continue;
                }
                match owner.get(symbol.as_str()) {
                    Some(&first) => out.push(format!(
                        "{path}.instruments[{j}]: {symbol:?} is already in shard {:?} \
                         (shards[{first}]); an instrument belongs to one shard",
                        self.shards[first].name
                    )),
                    None => {
                        owner.insert(symbol, i);
                    }
                }
            }
        }
        for (i, instrument) in self.instruments.iter().enumerate() {
            if !owner.contains_key(instrument.symbol.as_str()) {
                out.push(format!(
                    "instruments[{i}]: {:?} is in no shard; list it in one [[shards]] entry",
                    instrument.symbol
                ));
            }
        }
        out.extend(self.allowance_problems());
        out
    }

    /// Allowances: known scope and a splittable kind, one per (scope, kind) per shard;
    /// where `[[risk.limits]]` has the venue-wide limit (same scope and kind, no
    /// instrument), every shard has an allowance for it and they sum to at most it.
    fn allowance_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, shard) in self.shards.iter().enumerate() {
            for (j, allowance) in shard.allowances.iter().enumerate() {
                let path = format!("shards[{i}].allowances[{j}]");
                let scope = match self.risk_scope(&allowance.scope) {
                    Ok(RiskScope::Session(_)) => {
                        out.push(format!(
                            "{path}.scope: a session trades on one shard; set a session limit \
                             in [[risk.limits]]"
                        ));
                        None
                    }
                    Ok(scope) => Some(scope),
                    Err(problem) => {
                        out.push(format!("{path}.scope: {problem}"));
                        None
                    }
                };
                if !SPLIT_KINDS.contains(&allowance.kind.as_str()) {
                    out.push(format!(
                        "{path}.kind: {:?} is not split across shards (open-notional or \
                         daily-loss)",
                        allowance.kind
                    ));
                    continue;
                }
                let same = shard.allowances[..j].iter().any(|other| {
                    other.kind == allowance.kind
                        && scope.is_some()
                        && self.risk_scope(&other.scope).ok() == scope
                });
                if same {
                    out.push(format!(
                        "{path}: a second allowance for {} {}",
                        allowance.scope, allowance.kind
                    ));
                }
            }
        }
        for (k, limit) in self.risk.limits.iter().enumerate() {
            if limit.instrument.is_some() || !SPLIT_KINDS.contains(&limit.kind.as_str()) {
                continue;
            }
            let Ok(scope) = self.risk_scope(&limit.scope) else {
                continue;
            };
            if matches!(scope, RiskScope::Session(_)) {
                continue;
            }
            let mut sum: u64 = 0;
            for (i, shard) in self.shards.iter().enumerate() {
                let allowance = shard.allowances.iter().find(|a| {
                    a.kind == limit.kind && self.risk_scope(&a.scope).ok() == Some(scope)
                });
                match allowance {
                    Some(a) => sum = sum.saturating_add(a.value),
                    None => out.push(format!(
                        "shards[{i}].allowances: no allowance for risk.limits[{k}] ({} {}); a \
                         limit across shards is split into one allowance per shard",
                        limit.scope, limit.kind
                    )),
                }
            }
            if sum > limit.value {
                out.push(format!(
                    "shards: the allowances for {} {} sum to {sum}, above risk.limits[{k}].value \
                     ({})",
                    limit.scope, limit.kind, limit.value
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, JournalMismatch, DEFAULT_CONFIG};
    use arbiter_engine::{FirmId, LimitKind, RiskScope};

    const CLUSTER: &str = "[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\nnode_id = \"n1\"\n";

    fn sharded(shard: &str, shards: &str) -> Result<Config, Vec<String>> {
        Config::parse(&format!(
            "{DEFAULT_CONFIG}\n{CLUSTER}shard = {shard:?}\n{shards}"
        ))
    }

    const TWO: &str = "[[shards]]\nname = \"A\"\ninstruments = [\"AAPL\", \"ESZ6\"]\n\
                       [[shards]]\nname = \"B\"\ninstruments = [\"MSFT\", \"EURUSD\"]\n";

    #[test]
    fn two_shards_split_the_instruments() {
        let a = sharded("A", TWO).unwrap();
        assert_eq!(a.shard_names(), ["A", "B"]);
        assert_eq!(a.owned_symbols(), ["AAPL", "ESZ6"]);
        assert!(a.owns("AAPL") && !a.owns("MSFT"));
        assert_eq!(
            a.foreign_refusal("MSFT").unwrap(),
            "instrument MSFT is traded on shard B, not on shard A"
        );
        assert_eq!(a.foreign_refusals().iter().flatten().count(), 2);
        // Every shard's engine holds every instrument.
        assert_eq!(a.registry().len(), 4);
        let b = sharded("B", TWO).unwrap();
        assert_eq!(b.owned_symbols(), ["MSFT", "EURUSD"]);
        assert_eq!(a.registry(), b.registry());
    }

    #[test]
    fn without_shards_one_shard_owns_everything() {
        let single = Config::default_demo();
        assert!(single.shard_names().is_empty());
        assert_eq!(single.owned_symbols().len(), single.instruments.len());
        assert!(single.foreign_refusals().iter().all(Option::is_none));
        let clustered =
            Config::parse(&format!("{DEFAULT_CONFIG}\n{CLUSTER}shard = \"Z\"\n")).unwrap();
        assert_eq!(clustered.shard_names(), ["Z"]);
        assert!(clustered.owns("EURUSD"));
    }

    #[test]
    fn bad_shards_name_their_keys() {
        assert_eq!(
            sharded("C", TWO).unwrap_err(),
            ["cluster.shard: \"C\" is not a configured shard (shards: A, B)"]
        );
        let twice = TWO.replace("[\"MSFT\", \"EURUSD\"]", "[\"MSFT\", \"EURUSD\", \"AAPL\"]");
        assert_eq!(
            sharded("A", &twice).unwrap_err(),
            [
                "shards[1].instruments[2]: \"AAPL\" is already in shard \"A\" (shards[0]); an \
              instrument belongs to one shard"
            ]
        );
        let empty = format!("{TWO}[[shards]]\nname = \"C\"\ninstruments = []\n");
        assert_eq!(
            sharded("A", &empty).unwrap_err(),
            ["shards[2].instruments: shard \"C\" has no instruments"]
        );
        let missing = TWO.replace(", \"EURUSD\"", "");
        assert_eq!(
            sharded("A", &missing).unwrap_err(),
            ["instruments[3]: \"EURUSD\" is in no shard; list it in one [[shards]] entry"]
        );
        let unknown = TWO.replace("\"ESZ6\"", "\"IBM\"");
        let problems = sharded("A", &unknown).unwrap_err();
        assert!(
            problems.contains(&"shards[0].instruments[1]: no instrument \"IBM\"".to_owned()),
            "{problems:?}"
        );
        let renamed = TWO.replace("name = \"B\"", "name = \"A\"");
        assert!(sharded("A", &renamed)
            .unwrap_err()
            .contains(&"shards[1].name: duplicate shard \"A\"".to_owned()));
        let no_cluster = Config::parse(&format!("{DEFAULT_CONFIG}\n{TWO}")).unwrap_err();
        assert!(no_cluster[0].starts_with("shards: configured, but there is no [cluster]"));
    }

    const FIRM_LIMIT: &str = "\n[[risk.limits]]\nscope = \"firm:1\"\nkind = \"open-notional\"\n\
                              value = 1000\n";

    fn with_firm_limit(shard: &str, a: u64, b: Option<u64>) -> Result<Config, Vec<String>> {
        let allowance = |v: u64| {
            format!(
                "[[shards.allowances]]\nscope = \"firm:1\"\nkind = \"open-notional\"\nvalue = {v}\n"
            )
        };
        let shards = format!(
            "[[shards]]\nname = \"A\"\ninstruments = [\"AAPL\", \"ESZ6\"]\n{}\
             [[shards]]\nname = \"B\"\ninstruments = [\"MSFT\", \"EURUSD\"]\n{}",
            allowance(a),
            b.map(allowance).unwrap_or_default()
        );
        let text = DEFAULT_CONFIG.replacen("[metrics]", &format!("{FIRM_LIMIT}\n[metrics]"), 1);
        Config::parse(&format!("{text}\n{CLUSTER}shard = {shard:?}\n{shards}"))
    }

    #[test]
    fn firm_limits_are_split_into_allowances_that_fit() {
        let a = with_firm_limit("A", 600, Some(400)).unwrap();
        let firm = |config: &Config| {
            config
                .risk_config()
                .limits
                .iter()
                .filter(|l| {
                    l.scope == RiskScope::Firm(FirmId(1)) && l.kind == LimitKind::OpenNotional
                })
                .map(|l| l.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(firm(&a), [600], "shard A enforces its allowance only");
        assert_eq!(firm(&with_firm_limit("B", 600, Some(400)).unwrap()), [400]);
        assert_eq!(
            with_firm_limit("A", 700, Some(400)).unwrap_err(),
            [
                "shards: the allowances for firm:1 open-notional sum to 1100, above \
              risk.limits[4].value (1000)"
            ]
        );
        assert_eq!(
            with_firm_limit("A", 600, None).unwrap_err(),
            [
                "shards[1].allowances: no allowance for risk.limits[4] (firm:1 open-notional); a \
              limit across shards is split into one allowance per shard"
            ]
        );
        // A changed allowance is a changed start-up risk configuration.
        let moved = with_firm_limit("A", 500, Some(500)).unwrap();
        assert_eq!(moved.journal_compatible(&a), Err(JournalMismatch::Risk));
    }

    #[test]
    fn allowances_without_a_venue_limit_and_bad_ones() {
        let shards = "[[shards]]\nname = \"A\"\ninstruments = [\"AAPL\", \"ESZ6\"]\n\
                      [[shards.allowances]]\nscope = \"account:ACC1\"\nkind = \"daily-loss\"\n\
                      value = 50\n\
                      [[shards]]\nname = \"B\"\ninstruments = [\"MSFT\", \"EURUSD\"]\n";
        let a = sharded("A", shards).unwrap();
        assert!(a
            .risk_config()
            .limits
            .iter()
            .any(|l| l.kind == LimitKind::DailyLoss && l.value == 50));
        let b = sharded("B", shards).unwrap();
        assert!(!b
            .risk_config()
            .limits
            .iter()
            .any(|l| l.kind == LimitKind::DailyLoss));
        let bad = shards
            .replace("\"daily-loss\"", "\"max-order-qty\"")
            .replace("account:ACC1", "account:NOBODY");
        let problems = sharded("A", &bad).unwrap_err();
        assert_eq!(
            problems,
            [
                "shards[0].allowances[0].scope: no account \"NOBODY\"",
                "shards[0].allowances[0].kind: \"max-order-qty\" is not split across shards \
                 (open-notional or daily-loss)"
            ]
        );
    }

    #[test]
    fn moving_an_instrument_is_not_journal_compatible() {
        let a = sharded("A", TWO).unwrap();
        let moved = sharded(
            "A",
            &TWO.replace("[\"AAPL\", \"ESZ6\"]", "[\"AAPL\"]")
                .replace("[\"MSFT\", \"EURUSD\"]", "[\"MSFT\", \"EURUSD\", \"ESZ6\"]"),
        )
        .unwrap();
        assert_eq!(moved.journal_compatible(&a), Err(JournalMismatch::Shard));
        assert_eq!(a.journal_compatible(&a), Ok(()));
    }
}
