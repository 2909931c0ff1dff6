//! Instruments and the registry built at start-up.

use crate::types::{InstrumentId, Phase, Price, Qty};

/// Everything the engine needs to know about one instrument.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Instrument {
    /// Dense id, equal to its index in the registry.
    pub id: InstrumentId,
    /// Symbol, for humans and the gateway; never used on the order path.
    pub symbol: String,
    /// Price increment, in price units (at least 1).
    pub tick_size: Price,
    /// Quantity increment, in quantity units (at least 1).
    pub lot_size: Qty,
    /// Smallest order quantity.
    pub qty_min: Qty,
    /// Largest order quantity.
    pub qty_max: Qty,
    /// Lowest acceptable limit or stop price.
    pub price_min: Price,
    /// Highest acceptable limit or stop price.
    pub price_max: Price,
    /// Market orders execute no further than this many ticks from the best opposite price at
    /// arrival; zero means no collar.
    pub market_collar_ticks: u32,
    /// Phase at start-up.
    pub initial_phase: Phase,
}

impl Instrument {
    /// A permissive instrument for tests and benchmarks: tick 1, lot 1, continuous, a wide band.
    #[must_use]
    pub fn simple(id: u32, symbol: &str) -> Self {
        Instrument {
            id: InstrumentId(id),
            symbol: symbol.to_owned(),
            tick_size: Price(1),
            lot_size: Qty(1),
            qty_min: Qty(1),
            qty_max: Qty(u64::from(u32::MAX)),
            price_min: Price(1),
            price_max: Price(i64::from(u32::MAX)),
            market_collar_ticks: 0,
            initial_phase: Phase::Continuous,
        }
    }

    /// Checks the instrument's own consistency.
    ///
    /// # Errors
    /// A text naming the first field that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.tick_size.0 < 1 {
            return Err(format!("{}: tick_size must be at least 1", self.symbol));
        }
        if self.lot_size.0 < 1 {
            return Err(format!("{}: lot_size must be at least 1", self.symbol));
        }
        if self.qty_min.0 < 1 || self.qty_min > self.qty_max {
            return Err(format!("{}: need 1 <= qty_min <= qty_max", self.symbol));
        }
        if self.price_min.0 < 1 || self.price_min > self.price_max {
            return Err(format!("{}: need 1 <= price_min <= price_max", self.symbol));
        }
        Ok(())
    }
}

/// The instruments of one engine, indexed by their dense id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstrumentRegistry {
    instruments: Vec<Instrument>,
}

impl InstrumentRegistry {
    /// Builds a registry; ids must be `0..n` in order and every instrument valid.
    ///
    /// # Errors
    /// A text naming the first instrument that is wrong.
    pub fn new(instruments: Vec<Instrument>) -> Result<Self, String> {
        for (index, instrument) in instruments.iter().enumerate() {
            if instrument.id.0 as usize != index {
                return Err(format!(
                    "{}: id {} must equal its position {index}",
                    instrument.symbol, instrument.id.0
                ));
            }
            instrument.validate()?;
            if instruments[..index]
                .iter()
                .any(|other| other.symbol == instrument.symbol)
            {
                return Err(format!("{}: duplicate symbol", instrument.symbol));
            }
        }
        Ok(InstrumentRegistry { instruments })
    }

    /// The instrument with this id, if any.
    #[must_use]
    pub fn get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.instruments.get(id.0 as usize)
    }

    /// Looks an instrument up by symbol (start-up and gateway use only).
    #[must_use]
    pub fn by_symbol(&self, symbol: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }

    /// How many instruments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// All instruments in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.iter()
    }
}
