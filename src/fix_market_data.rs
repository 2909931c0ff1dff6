//! FIX market data in the market-data agent: the subscriptions of every session
//! ([`MdSubscriptions`]) fed by the agent's feed messages, answering the requests the
//! gateway forwards, with bodies going back over the link (`market_data_link`).
//!
//! Each session gets at most the room the gateway published for it (minus what this duty
//! cycle already queued), so market data is conflated rather than queued when a
//! subscriber, or the link, falls behind.

use arbiter_config::{Config, MarketDataSection};
use arbiter_fix::market_data::{
    MdConfig, MdInstrument, MdSessionConfig, MdSink, MdSubscriptions, RequestLimits,
};
use arbiter_fix::{decode, FixVersion, MessageBuilder, SessionId};
use arbiter_market_data::FeedMessage;

use crate::market_data_link::{AgentSide, ToAgent};

/// Largest market-data message written (a W or X is split into several beyond it).
const MESSAGE_BYTES_MAX: usize = 16 * 1024;
/// Requests answered per duty cycle.
const REQUESTS_PER_CYCLE_MAX: u32 = 64;

/// Per-session settings from the configuration.
#[derive(Clone, Copy, Debug)]
struct SessionSettings {
    allowed: bool,
    subscriptions_max: usize,
    version: FixVersion,
}

/// The FIX side of the market-data agent.
pub struct FixMarketData {
    subscriptions: MdSubscriptions,
    link: AgentSide,
    sessions: Vec<SessionSettings>,
    open: Vec<bool>,
    budget: Vec<usize>,
    buffer: Vec<u8>,
    /// The request being answered (a copy of the link's, kept to reuse its capacity).
    request: Vec<u8>,
}

impl std::fmt::Debug for FixMarketData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixMarketData")
            .field("counters", &self.subscriptions.counters())
            .finish_non_exhaustive()
    }
}

/// Writes bodies into the link within each session's budget.
struct LinkSink<'a> {
    link: &'a mut AgentSide,
    budget: &'a mut [usize],
    versions: &'a [SessionSettings],
    buffer: &'a mut [u8],
}

impl MdSink for LinkSink<'_> {
    fn room_bytes(&self, session: SessionId) -> usize {
        self.budget
            .get(session.0 as usize)
            .copied()
            .unwrap_or(0)
            .min(self.link.ring_free())
    }

    fn send(
        &mut self,
        session: SessionId,
        msg_type: &[u8],
        body: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool {
        let index = session.0 as usize;
        let version = self
            .versions
            .get(index)
            .map_or(FixVersion::Fix44, |s| s.version);
        let mut builder = MessageBuilder::new(self.buffer, version, msg_type);
        body(&mut builder);
        let Some(fields) = builder.fields_after_msg_type() else {
            return false;
        };
        let len = fields.len();
        if self.budget.get(index).copied().unwrap_or(0) < len
            || !self.link.send(session.0, msg_type, fields)
        {
            return false;
        }
        self.budget[index] -= len;
        true
    }
}

impl FixMarketData {
    /// The service for this venue's instruments and sessions, over the agent's link.
    #[must_use]
    pub fn new(config: &Config, section: &MarketDataSection, link: AgentSide) -> Self {
        let registry = config.registry();
        let instruments = config
            .instruments
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let engine = registry
                    .get(arbiter_engine::InstrumentId(i as u32))
                    .expect("the registry holds every configured instrument");
                let mut instrument = MdInstrument::from_engine(engine, c.price_decimals);
                instrument.currency = c
                    .currency
                    .as_deref()
                    .and_then(|s| s.as_bytes().try_into().ok());
                instrument.isin = c.isin.as_deref().and_then(|s| s.as_bytes().try_into().ok());
                instrument
            })
            .collect();
        let sessions: Vec<SessionSettings> = config
            .fix
            .sessions
            .iter()
            .map(|s| SessionSettings {
                allowed: s.market_data && !s.drop_copy,
                subscriptions_max: s.market_data_subscriptions_max,
                version: if s.begin_string == "FIXT.1.1" {
                    FixVersion::Fixt11
                } else {
                    FixVersion::Fix44
                },
            })
            .collect();
        let md_config = MdConfig {
            sessions_max: sessions.len(),
            subscriptions_per_session_max: sessions
                .iter()
                .map(|s| s.subscriptions_max)
                .max()
                .unwrap_or(1)
                .max(1),
            subscriptions_max: section.fix_subscriptions_max,
            orders_max: config.engine.orders_max as usize,
            levels_per_side_max: config.engine.levels_per_side_max as usize,
            limits: RequestLimits {
                depth_max: section.fix_depth_max,
                full_depth: section.fix_full_depth,
            },
            message_bytes_max: MESSAGE_BYTES_MAX,
            trading_session_id: "CONTINUOUS",
        };
        let count = sessions.len();
        FixMarketData {
            subscriptions: MdSubscriptions::new(md_config, instruments),
            link,
            sessions,
            open: vec![false; count],
            budget: vec![0; count],
            buffer: vec![0; MESSAGE_BYTES_MAX + 1024],
            request: Vec::with_capacity(64 * 1024),
        }
    }

    /// Starts a duty cycle: each session's budget is the room the gateway published.
    pub fn refresh_budgets(&mut self) {
        for (session, budget) in self.budget.iter_mut().enumerate() {
            *budget = self.link.room.get(session as u32);
        }
    }

    fn sink(&mut self) -> (&mut MdSubscriptions, LinkSink<'_>) {
        (
            &mut self.subscriptions,
            LinkSink {
                link: &mut self.link,
                budget: &mut self.budget,
                versions: &self.sessions,
                buffer: &mut self.buffer,
            },
        )
    }

    /// Answers what the gateway forwarded; returns how much it did.
    pub fn serve_requests(&mut self) -> u32 {
        enum Said {
            Request,
            Closed,
            Dropped,
        }
        let mut work = 0;
        while work < REQUESTS_PER_CYCLE_MAX {
            // The message is copied out of the link's buffer (into one kept for it) so that
            // answering can borrow the link again.
            let (session, said) = match self.link.next() {
                None => break,
                Some(ToAgent::Request { session, raw }) => {
                    self.request.clear();
                    self.request.extend_from_slice(raw);
                    (session, Said::Request)
                }
                Some(ToAgent::SessionClosed { session }) => (session, Said::Closed),
                Some(ToAgent::Dropped { session }) => (session, Said::Dropped),
            };
            work += 1;
            match said {
                Said::Request => {
                    let request = std::mem::take(&mut self.request);
                    self.answer(session, &request);
                    self.request = request;
                }
                Said::Closed => {
                    self.subscriptions.close_session(SessionId(session));
                    if let Some(open) = self.open.get_mut(session as usize) {
                        *open = false;
                    }
                }
                Said::Dropped => self.subscriptions.conflate_session(SessionId(session)),
            }
        }
        work
    }

    fn answer(&mut self, session: u32, raw: &[u8]) {
        let Some(settings) = self.sessions.get(session as usize).copied() else {
            return;
        };
        if !self.open[session as usize] {
            // Requests come only from logged-on sessions: the first one opens it.
            self.subscriptions.open_session(
                SessionId(session),
                MdSessionConfig {
                    allowed: settings.allowed,
                    subscriptions_max: settings.subscriptions_max,
                    version: settings.version,
                },
            );
            self.open[session as usize] = true;
        }
        let Ok(message) = decode(raw) else {
            return; // the gateway's session layer validated it
        };
        let (subscriptions, mut sink) = self.sink();
        subscriptions.on_request(SessionId(session), &message, &mut sink);
    }

    /// One feed message, in sequence order, to every subscription it touches.
    pub fn on_feed_message(&mut self, message: &FeedMessage) {
        let (subscriptions, mut sink) = self.sink();
        if let Err(e) = subscriptions.on_feed_message(message, &mut sink) {
            eprintln!("arbiter: FIX market data: {e}; the instrument's subscribers get a snapshot");
        }
    }

    /// Catches conflated sessions up as room allows.
    pub fn poll(&mut self) -> u32 {
        let (subscriptions, mut sink) = self.sink();
        subscriptions.poll(&mut sink)
    }
}
