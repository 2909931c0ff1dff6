//! `[market_data]`: the binary UDP feed with its retransmission and snapshot services, and
//! the bounds of FIX market data per session.

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;

/// The market-data agent's settings. Absent section: no feed, no FIX market data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDataSection {
    /// Publish at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Feed session name (MoldUDP64 style, at most 10 ASCII characters).
    #[serde(default = "default_session")]
    pub session: String,
    /// Where packets go: a multicast group and port, or a unicast address; none: no
    /// binary feed (FIX market data only).
    #[serde(default)]
    pub feed: Option<String>,
    /// Local address the feed sends from (port 0: any).
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Interface for outgoing multicast (IPv4 address); none: the system's choice.
    #[serde(default)]
    pub multicast_interface: Option<String>,
    /// Multicast TTL (1: stay on the local network).
    #[serde(default = "default_ttl")]
    pub multicast_ttl: u32,
    /// UDP address of the retransmission service; none: no service.
    #[serde(default)]
    pub retransmit_listen: Option<String>,
    /// TCP address of the snapshot service; none: no service.
    #[serde(default)]
    pub snapshot_listen: Option<String>,
    /// A heartbeat packet when nothing was sent for this long.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// Messages the retransmission service can resend (the newest ones).
    #[serde(default = "default_window")]
    pub window_messages: usize,
    /// Deepest FIX MarketDepth (264) served; 264=0 (full depth) is served too when
    /// `fix_full_depth`.
    #[serde(default = "default_depth_max")]
    pub fix_depth_max: u32,
    /// Whether FIX subscribers may ask for the full book (264=0, and order by order).
    #[serde(default = "default_true")]
    pub fix_full_depth: bool,
    /// Most FIX market-data subscriptions across all sessions.
    #[serde(default = "default_subscriptions_max")]
    pub fix_subscriptions_max: usize,
}

fn default_depth_max() -> u32 {
    100
}
fn default_subscriptions_max() -> usize {
    4096
}

fn default_true() -> bool {
    true
}
fn default_session() -> String {
    "ARBITER".to_owned()
}
fn default_bind() -> String {
    "0.0.0.0:0".to_owned()
}
fn default_ttl() -> u32 {
    1
}
fn default_heartbeat_ms() -> u64 {
    1000
}
fn default_window() -> usize {
    1 << 20
}

/// Largest retransmission window accepted (messages; each keeps up to 64 bytes).
pub const WINDOW_MESSAGES_MAX: usize = 1 << 24;

impl MarketDataSection {
    /// Problems with key paths (`market_data.*`).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.session.is_empty() || self.session.len() > 10 || !self.session.is_ascii() {
            out.push(format!(
                "market_data.session: {:?} must be 1 to 10 ASCII characters",
                self.session
            ));
        }
        let mut address = |key: &str, text: &str| {
            if text.parse::<SocketAddr>().is_err() {
                out.push(format!(
                    "market_data.{key}: {text:?} is not an address like \"127.0.0.1:9910\""
                ));
            }
        };
        if let Some(text) = &self.feed {
            address("feed", text);
        }
        address("bind", &self.bind);
        if let Some(text) = &self.retransmit_listen {
            address("retransmit_listen", text);
        }
        if let Some(text) = &self.snapshot_listen {
            address("snapshot_listen", text);
        }
        if let Some(text) = &self.multicast_interface {
            if text.parse::<Ipv4Addr>().is_err() {
                out.push(format!(
                    "market_data.multicast_interface: {text:?} is not an IPv4 address"
                ));
            }
        }
        if self.heartbeat_ms == 0 {
            out.push("market_data.heartbeat_ms: must be at least 1".to_owned());
        }
        if self.fix_depth_max == 0 {
            out.push("market_data.fix_depth_max: must be at least 1".to_owned());
        }
        if self.fix_subscriptions_max == 0 {
            out.push("market_data.fix_subscriptions_max: must be at least 1".to_owned());
        }
        if self.window_messages == 0 || self.window_messages > WINDOW_MESSAGES_MAX {
            out.push(format!(
                "market_data.window_messages: must be 1 to {WINDOW_MESSAGES_MAX}"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> MarketDataSection {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn defaults_are_valid() {
        let s = section("feed = \"239.1.1.1:9910\"");
        assert!(s.enabled);
        assert!(s.problems().is_empty(), "{:?}", s.problems());
    }

    #[test]
    fn each_mistake_names_its_key() {
        let s = section(
            "feed = \"nowhere\"\nsession = \"FAR-TOO-LONG-NAME\"\nretransmit_listen = \"x\"\n\
             multicast_interface = \"eth0\"\nheartbeat_ms = 0\nwindow_messages = 0",
        );
        let problems = s.problems().join("\n");
        for key in [
            "market_data.feed",
            "market_data.session",
            "market_data.retransmit_listen",
            "market_data.multicast_interface",
            "market_data.heartbeat_ms",
            "market_data.window_messages",
        ] {
            assert!(problems.contains(key), "{key} missing in {problems}");
        }
    }
}
