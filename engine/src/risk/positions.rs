//! Positions, open quantities, open notional and P&L per holder (firm, account, strategy)
//! and instrument, updated on every acceptance, fill, reduction and removal.

use crate::digest::Digest;
use crate::types::Side;

/// One holder's exposure in one instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Exposure {
    /// Net position: bought minus sold.
    pub position: i64,
    /// Open (unfilled) buy quantity of live orders.
    pub open_buy: u64,
    /// Open sell quantity of live orders.
    pub open_sell: u64,
    /// Cash flow of fills: Σ sold price × qty − Σ bought price × qty.
    pub cash: i128,
    /// Mark-to-market value at the last end of day: daily P&L is measured from it.
    pub day_start: i128,
}

impl Exposure {
    /// Realised + unrealised value at `mark` (cash plus position marked).
    #[inline]
    pub fn value(&self, mark: i64) -> i128 {
        self.cash + i128::from(self.position) * i128::from(mark)
    }
}

/// Exposures of every holder in every instrument, dense.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Exposures {
    instruments: u32,
    rows: Vec<Exposure>,
    /// Per holder: Σ price × open quantity of its live orders (gross, both sides).
    pub open_notional: Vec<i128>,
    /// Holders ever touched, in order of first touch (digest and end of day walk only these).
    touched: Vec<u32>,
    touched_flag: Vec<bool>,
}

impl Exposures {
    pub fn new(holders: u32, instruments: u32) -> Self {
        Exposures {
            instruments,
            rows: vec![Exposure::default(); holders as usize * instruments as usize],
            open_notional: vec![0; holders as usize],
            touched: Vec::with_capacity(holders as usize),
            touched_flag: vec![false; holders as usize],
        }
    }

    #[inline]
    pub fn get(&self, holder: u32, instrument: u32) -> &Exposure {
        &self.rows[(holder * self.instruments + instrument) as usize]
    }

    #[inline]
    fn row_mut(&mut self, holder: u32, instrument: u32) -> &mut Exposure {
        if !self.touched_flag[holder as usize] {
            self.touched_flag[holder as usize] = true;
            self.touched.push(holder);
        }
        &mut self.rows[(holder * self.instruments + instrument) as usize]
    }

    /// An order's open quantity (and its notional) enters or leaves the holder's exposure.
    #[inline]
    pub fn add_open(&mut self, holder: u32, instrument: u32, side: Side, qty: u64, notional: i128) {
        let row = self.row_mut(holder, instrument);
        match side {
            Side::Buy => row.open_buy += qty,
            Side::Sell => row.open_sell += qty,
        }
        self.open_notional[holder as usize] += notional;
    }

    #[inline]
    pub fn remove_open(
        &mut self,
        holder: u32,
        instrument: u32,
        side: Side,
        qty: u64,
        notional: i128,
    ) {
        let row = self.row_mut(holder, instrument);
        match side {
            Side::Buy => {
                debug_assert!(row.open_buy >= qty);
                row.open_buy -= qty;
            }
            Side::Sell => {
                debug_assert!(row.open_sell >= qty);
                row.open_sell -= qty;
            }
        }
        self.open_notional[holder as usize] -= notional;
        debug_assert!(self.open_notional[holder as usize] >= 0);
    }

    /// A fill of `qty` at `price` for the holder's order on `side`.
    #[inline]
    pub fn fill(&mut self, holder: u32, instrument: u32, side: Side, price: i64, qty: u64) {
        let row = self.row_mut(holder, instrument);
        let amount = i128::from(price) * i128::from(qty);
        let signed = i64::try_from(qty).expect("quantities fit i64");
        match side {
            Side::Buy => {
                row.position += signed;
                row.cash -= amount;
            }
            Side::Sell => {
                row.position -= signed;
                row.cash += amount;
            }
        }
    }

    /// Every live order is gone (a kill covering them all): open quantities and notional
    /// are zero everywhere. Only touched holders can hold non-zero figures.
    pub fn clear_open(&mut self) {
        for &holder in &self.touched {
            let start = (holder * self.instruments) as usize;
            for row in &mut self.rows[start..start + self.instruments as usize] {
                row.open_buy = 0;
                row.open_sell = 0;
            }
            self.open_notional[holder as usize] = 0;
        }
    }

    /// Whether no holder has open quantity or notional (checks the bulk release).
    pub fn no_open(&self) -> bool {
        self.touched.iter().all(|&holder| {
            let start = (holder * self.instruments) as usize;
            self.open_notional[holder as usize] == 0
                && self.rows[start..start + self.instruments as usize]
                    .iter()
                    .all(|row| row.open_buy == 0 && row.open_sell == 0)
        })
    }

    /// Daily P&L of a holder across instruments, marked at `marks` (0: no price yet, and
    /// then the position is zero because every position comes from a trade).
    pub fn daily_pnl(&self, holder: u32, marks: &[i64]) -> i128 {
        let start = (holder * self.instruments) as usize;
        self.rows[start..start + self.instruments as usize]
            .iter()
            .zip(marks)
            .map(|(row, &mark)| row.value(mark) - row.day_start)
            .sum()
    }

    /// Starts a new day: every touched row's current value becomes its day start.
    pub fn end_of_day(&mut self, marks: &[i64]) {
        for &holder in &self.touched {
            let start = (holder * self.instruments) as usize;
            for (row, &mark) in self.rows[start..start + self.instruments as usize]
                .iter_mut()
                .zip(marks)
            {
                row.day_start = row.value(mark);
            }
        }
    }

    pub fn digest(&self, digest: &mut Digest) {
        for &holder in &self.touched {
            digest.u64(u64::from(holder));
            digest.u64(self.open_notional[holder as usize] as u64);
            for instrument in 0..self.instruments {
                let row = self.get(holder, instrument);
                digest.i64(row.position);
                digest.u64(row.open_buy);
                digest.u64(row.open_sell);
                digest.u64(row.cash as u64);
                digest.u64(row.day_start as u64);
            }
        }
    }
}

impl Exposures {
    /// Gives every table the capacity of `like` (a fresh instance under the same configuration).
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        crate::engine::snapshot::refit(&mut self.rows, &like.rows, "exposures")?;
        crate::engine::snapshot::refit(
            &mut self.open_notional,
            &like.open_notional,
            "open notional",
        )?;
        crate::engine::snapshot::refit(&mut self.touched, &like.touched, "exposures touched")?;
        crate::engine::snapshot::refit(
            &mut self.touched_flag,
            &like.touched_flag,
            "exposures touched flags",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnl_marks_to_market_and_resets_daily() {
        let mut exposures = Exposures::new(1, 2);
        exposures.fill(0, 0, Side::Buy, 100, 10);
        exposures.fill(0, 0, Side::Sell, 110, 4);
        // Realised 40, unrealised 6 × (mark − 100).
        assert_eq!(exposures.daily_pnl(0, &[100, 0]), 40);
        assert_eq!(exposures.daily_pnl(0, &[90, 0]), 40 - 60);
        exposures.end_of_day(&[90, 0]);
        assert_eq!(exposures.daily_pnl(0, &[90, 0]), 0);
        assert_eq!(exposures.daily_pnl(0, &[91, 0]), 6);
    }

    #[test]
    fn open_quantities_balance() {
        let mut exposures = Exposures::new(1, 1);
        exposures.add_open(0, 0, Side::Sell, 5, 500);
        assert_eq!(exposures.get(0, 0).open_sell, 5);
        exposures.remove_open(0, 0, Side::Sell, 5, 500);
        assert_eq!(*exposures.get(0, 0), Exposure::default());
        assert_eq!(exposures.open_notional[0], 0);
    }
}
