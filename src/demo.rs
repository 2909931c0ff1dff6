//! `arbiter demo`: a generated order flow through one engine, a summary and the top of book.
//! No I/O beyond printing: it shows the engine on its own.

use arbiter_engine::{
    AccountId, CancelOrder, Command, CommandKind, Event, InstrumentId, NewOrder, OrdType, OrderId,
    Price, Qty, Seq, Side, TimeInForce, TimestampNs,
};

use arbiter_config::Config;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs `count` generated commands on the first instrument and prints what happened.
pub fn run(config: &Config, count: u64, seed: u64) {
    let registry = config.registry();
    let instrument = registry.get(InstrumentId(0)).expect("at least one").clone();
    let mut engine = config.engine();
    let mut rng = Rng(seed);
    let mid = (instrument.price_min.0 + instrument.price_max.0) / 2 / instrument.tick_size.0
        * instrument.tick_size.0;
    let mut events = Vec::with_capacity(1024);
    let (mut accepted, mut trades, mut traded_qty, mut cancels, mut rejects) = (0, 0, 0, 0, 0);
    let started = std::time::Instant::now();
    for n in 1..=count {
        let kind = if n > 10 && rng.below(100) < 30 {
            CommandKind::Cancel(CancelOrder {
                order_id: OrderId(1 + rng.below(n - 1)),
                account: AccountId(1),
                ..CancelOrder::default()
            })
        } else {
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let offset = rng.below(20) as i64 - 8;
            let ticks = match side {
                Side::Buy => -offset,
                Side::Sell => offset,
            };
            CommandKind::NewOrder(NewOrder {
                order_id: OrderId(n),
                instrument: instrument.id,
                account: AccountId(1),
                side,
                ord_type: OrdType::Limit,
                tif: TimeInForce::Gtc,
                price: Price(mid + ticks * instrument.tick_size.0),
                qty: Qty(instrument.lot_size.0 * (1 + rng.below(10))),
                ..NewOrder::default()
            })
        };
        events.clear();
        engine.apply(
            &Command::new(Seq(n), TimestampNs(n * 1_000), kind),
            &mut events,
        );
        for event in &events {
            match event {
                Event::Accepted { .. } => accepted += 1,
                Event::Trade(trade) => {
                    trades += 1;
                    traded_qty += trade.qty.0;
                }
                Event::Cancelled { .. } => cancels += 1,
                Event::Rejected { .. } => rejects += 1,
                _ => {}
            }
        }
    }
    let elapsed = started.elapsed();
    let scale = 10f64.powi(config.instruments[0].price_decimals as i32);
    println!(
        "demo: {count} commands on {} in {elapsed:?}",
        instrument.symbol
    );
    println!(
        "accepted={accepted} trades={trades} traded_qty={traded_qty} cancels={cancels} rejects={rejects} live_orders={}",
        engine.live_orders()
    );
    println!("top of book {}:", instrument.symbol);
    let bids = engine.depth(instrument.id, Side::Buy, 5);
    let asks = engine.depth(instrument.id, Side::Sell, 5);
    println!(
        "{:>12} {:>10} | {:<10} {:<12}",
        "bid qty", "bid", "ask", "ask qty"
    );
    for i in 0..bids.len().max(asks.len()) {
        let bid = bids
            .get(i)
            .map(|(p, q, _)| (format!("{}", q.0), format!("{:.2}", p.0 as f64 / scale)));
        let ask = asks
            .get(i)
            .map(|(p, q, _)| (format!("{:.2}", p.0 as f64 / scale), format!("{}", q.0)));
        let (bq, bp) = bid.unwrap_or_default();
        let (ap, aq) = ask.unwrap_or_default();
        println!("{bq:>12} {bp:>10} | {ap:<10} {aq:<12}");
    }
    println!("digest={:016x}", engine.digest());
}
