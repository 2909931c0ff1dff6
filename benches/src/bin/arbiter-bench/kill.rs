//! `arbiter-bench kill`: fills one engine with `--resting` orders spread over accounts and
//! instruments, then fires kill switches and times each from the command's start to the
//! return of `apply` (the last cancel is the last event the command emits, so this bounds
//! trigger-to-last-cancel from above).
//!
//! Scenarios, each on a freshly filled engine: an account kill (one account's share in
//! scope), an account kill with every order in that account (all `--resting` in scope), and
//! a global kill (all in scope). The last line is the global kill:
//! `kill_resting=N cancels=C trigger_to_last_cancel_us=U`.
use std::time::Instant;

use arbiter_engine::{
    AccountId, CancelReason, Command, CommandKind, Engine, EngineConfig, Event, EventSink,
    Instrument, InstrumentId, InstrumentRegistry, KillReason, KillScope, NewOrder, Operator,
    OperatorId, OperatorRole, OrderId, Price, Qty, RiskCommand, RiskConfig, Seq, SessionId, Side,
    StrategyId, TimeInForce, TimestampNs,
};
use clap::Args;

/// Arguments of `arbiter-bench kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Resting orders before each kill.
    #[arg(long, default_value_t = 100_000)]
    pub resting: u32,
    /// Accounts the orders are spread over.
    #[arg(long, default_value_t = 10)]
    pub accounts: u32,
    /// Instruments the orders are spread over.
    #[arg(long, default_value_t = 8)]
    pub instruments: u32,
    /// Repetitions of each scenario (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: u32,
}

/// Counts cancels; keeps nothing, so the sink costs the engine almost nothing.
#[derive(Default)]
struct CountingSink {
    cancels: u64,
    activations: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn emit(&mut self, event: Event) {
        match event {
            Event::Cancelled {
                reason: CancelReason::KillSwitch,
                ..
            } => self.cancels += 1,
            Event::Risk(_) => self.activations += 1,
            _ => {}
        }
    }
}

const OPERATOR: OperatorId = OperatorId(1);

fn build(args: &KillArgs, one_account: bool) -> Result<(Engine, u64), String> {
    let registry = InstrumentRegistry::new(
        (0..args.instruments)
            .map(|i| Instrument::simple(i, &format!("I{i}")))
            .collect(),
    )?;
    let config = EngineConfig {
        orders_max: args.resting + 1024,
        levels_per_side_max: 2048,
        accounts_max: args.accounts.max(1),
        strategies_max: args.accounts.max(1),
        sessions_max: args.accounts.max(1),
        ..EngineConfig::default()
    };
    let risk = RiskConfig {
        operators: vec![Operator {
            id: OPERATOR,
            role: OperatorRole::RiskManager,
        }],
        ..RiskConfig::default()
    };
    let mut engine = Engine::with_risk(config, registry, &risk);
    let mut sink = CountingSink::default();
    let mut seq = 0u64;
    for n in 0..u64::from(args.resting) {
        seq += 1;
        let account = if one_account {
            0
        } else {
            (n % u64::from(args.accounts)) as u32
        };
        let buy = n % 2 == 0;
        // Bids 1,000..2,000, asks 3,000..4,000: nothing crosses, ~1,000 levels a side.
        let level = i64::try_from((n / 2) % 1_000).expect("small");
        let order = NewOrder {
            order_id: OrderId(n + 1),
            instrument: InstrumentId((n / 7 % u64::from(args.instruments)) as u32),
            account: AccountId(account),
            strategy: StrategyId(account),
            session: SessionId(account),
            side: if buy { Side::Buy } else { Side::Sell },
            price: Price(if buy { 1_000 + level } else { 3_000 + level }),
            qty: Qty(1 + n % 9),
            tif: TimeInForce::Gtc,
            ..NewOrder::default()
        };
        engine.apply(
            &Command::new(Seq(seq), TimestampNs(seq), CommandKind::NewOrder(order)),
            &mut sink,
        );
    }
    if engine.live_orders() != args.resting {
        return Err(format!(
            "filled {} of {} orders",
            engine.live_orders(),
            args.resting
        ));
    }
    Ok((engine, seq))
}

/// Fires one kill and returns (cancels, microseconds).
fn fire(engine: &mut Engine, seq: u64, scope: KillScope) -> (u64, f64) {
    let mut sink = CountingSink::default();
    let command = Command::new(
        Seq(seq + 1),
        TimestampNs(seq + 1),
        CommandKind::Risk(RiskCommand::Kill {
            operator: OPERATOR,
            scope,
            reason: KillReason::Drill,
        }),
    );
    let start = Instant::now();
    engine.apply(&command, &mut sink);
    let elapsed = start.elapsed();
    assert_eq!(sink.activations, 1);
    (sink.cancels, elapsed.as_secs_f64() * 1e6)
}

fn scenario(args: &KillArgs, one_account: bool, scope: KillScope) -> Result<(u64, f64), String> {
    let mut times = Vec::new();
    let mut cancels = 0;
    for _ in 0..args.repeat.max(1) {
        let (mut engine, seq) = build(args, one_account)?;
        let (count, micros) = fire(&mut engine, seq, scope);
        cancels = count;
        times.push(micros);
    }
    times.sort_by(f64::total_cmp);
    Ok((cancels, times[times.len() / 2]))
}

pub fn run(args: &KillArgs) -> Result<(), String> {
    if args.accounts == 0 || args.instruments == 0 {
        return Err("accounts and instruments must be positive".into());
    }
    let (cancels, micros) = scenario(args, false, KillScope::Account(AccountId(0)))?;
    println!(
        "account kill ({} accounts): cancels={cancels} trigger_to_last_cancel_us={micros:.1}",
        args.accounts
    );
    let (cancels, micros) = scenario(args, true, KillScope::Account(AccountId(0)))?;
    println!("account kill (all orders in one account): cancels={cancels} trigger_to_last_cancel_us={micros:.1}");
    let (cancels, micros) = scenario(args, false, KillScope::Instrument(InstrumentId(0)))?;
    println!(
        "instrument kill ({} instruments): cancels={cancels} trigger_to_last_cancel_us={micros:.1}",
        args.instruments
    );
    let (cancels, micros) = scenario(args, false, KillScope::Global)?;
    println!(
        "kill_resting={} cancels={cancels} trigger_to_last_cancel_us={micros:.0}",
        args.resting
    );
    Ok(())
}
