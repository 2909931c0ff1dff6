//! The venue configuration a journal was written under: it builds the engine and gives
//! names (instrument symbols, price decimals, account names) to the integers in commands.
use std::collections::HashMap;

use arbiter_config::Config;
use arbiter_engine::{AccountId, Engine, InstrumentId, Price};

use crate::error::ReplayError;

/// A parsed venue configuration plus the lookups the tool needs.
#[derive(Debug, Clone)]
pub struct Venue {
    /// The parsed configuration.
    pub config: Config,
    /// The TOML text it came from.
    pub text: String,
    symbols: Vec<String>,
    price_decimals: Vec<u32>,
    account_names: HashMap<u32, String>,
}

impl Venue {
    /// Parses a configuration text.
    ///
    /// # Errors
    /// [`ReplayError::Config`] with every problem the configuration checker found.
    pub fn parse(text: &str) -> Result<Venue, ReplayError> {
        let config =
            Config::parse(text).map_err(|problems| ReplayError::Config(problems.join("; ")))?;
        Ok(Venue::from_config(config, text.to_owned()))
    }

    fn from_config(config: Config, text: String) -> Venue {
        let symbols = config
            .instruments
            .iter()
            .map(|i| i.symbol.clone())
            .collect();
        let price_decimals = config
            .instruments
            .iter()
            .map(|i| i.price_decimals)
            .collect();
        let account_names = config
            .accounts
            .iter()
            .map(|a| (a.id, a.name.clone()))
            .collect();
        Venue {
            config,
            text,
            symbols,
            price_decimals,
            account_names,
        }
    }

    /// A fresh engine exactly as the daemon builds it ([`arbiter_config::Config::engine`]),
    /// so replay reproduces the journaled digests (and `what-if` sees changed risk limits).
    #[must_use]
    pub fn engine(&self) -> Engine {
        self.config.engine()
    }

    /// Whether this configuration may follow `journaled` in one journal: the same check the
    /// daemon makes on restart ([`Config::journal_compatible`]: instruments, capacities,
    /// `[risk]` and operators); names and sessions may change, these may not.
    ///
    /// # Errors
    /// [`ReplayError::Config`] naming the record and what differs.
    pub fn check_follows(&self, journaled: &Venue, sequence: u64) -> Result<(), ReplayError> {
        self.config
            .journal_compatible(&journaled.config)
            .map_err(|mismatch| {
                ReplayError::Config(format!(
                    "record {sequence}: the configuration changes mid-journal ({mismatch}); \
                     replay cannot rebuild one engine across it (the daemon refuses such a \
                     restart)"
                ))
            })
    }

    /// The venue's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.config.venue.name
    }

    /// An instrument's symbol, or `#id` for an id the configuration does not know.
    #[must_use]
    pub fn symbol(&self, instrument: InstrumentId) -> String {
        self.symbols
            .get(instrument.0 as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{}", instrument.0))
    }

    /// Decimals of one price unit of an instrument (0 when unknown).
    #[must_use]
    pub fn price_decimals(&self, instrument: InstrumentId) -> u32 {
        self.price_decimals
            .get(instrument.0 as usize)
            .copied()
            .unwrap_or(0)
    }

    /// A price as a decimal with the instrument's `price_decimals` (`15025` → `150.25`).
    #[must_use]
    pub fn price(&self, instrument: InstrumentId, price: Price) -> String {
        format_units(i128::from(price.0), self.price_decimals(instrument))
    }

    /// An account's name, or `#id` for an id the configuration does not name.
    #[must_use]
    pub fn account(&self, account: AccountId) -> String {
        self.account_names
            .get(&account.0)
            .cloned()
            .unwrap_or_else(|| format!("#{}", account.0))
    }

    /// The instrument with this symbol.
    #[must_use]
    pub fn instrument_by_symbol(&self, symbol: &str) -> Option<InstrumentId> {
        self.symbols
            .iter()
            .position(|s| s == symbol)
            .and_then(|i| u32::try_from(i).ok())
            .map(InstrumentId)
    }

    /// The account with this name, or with this numeric id.
    #[must_use]
    pub fn account_by_name_or_id(&self, text: &str) -> Option<AccountId> {
        self.account_names
            .iter()
            .find(|(_, name)| name.as_str() == text)
            .map(|(id, _)| AccountId(*id))
            .or_else(|| text.parse().ok().map(AccountId))
    }

    /// Number of instruments.
    #[must_use]
    pub fn instrument_count(&self) -> usize {
        self.symbols.len()
    }
}

/// Integer units as a decimal with `decimals` places (`-5, 2` → `-0.05`).
#[must_use]
pub fn format_units(units: i128, decimals: u32) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10i128.pow(decimals);
    let sign = if units < 0 { "-" } else { "" };
    let magnitude = units.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = decimals as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_units_with_decimals() {
        assert_eq!(format_units(15025, 2), "150.25");
        assert_eq!(format_units(-5, 2), "-0.05");
        assert_eq!(format_units(7, 0), "7");
        assert_eq!(format_units(108_500, 5), "1.08500");
    }

    #[test]
    fn names_come_from_the_configuration() {
        let venue = Venue::parse(arbiter_config::DEFAULT_CONFIG).unwrap();
        assert_eq!(venue.symbol(InstrumentId(3)), "EURUSD");
        assert_eq!(venue.symbol(InstrumentId(99)), "#99");
        assert_eq!(venue.price(InstrumentId(3), Price(108_500)), "1.08500");
        assert_eq!(venue.account(AccountId(3)), "ALGO1");
        assert_eq!(venue.account_by_name_or_id("ALGO1"), Some(AccountId(3)));
        assert_eq!(venue.account_by_name_or_id("7"), Some(AccountId(7)));
        assert_eq!(venue.instrument_by_symbol("MSFT"), Some(InstrumentId(1)));
    }
}
