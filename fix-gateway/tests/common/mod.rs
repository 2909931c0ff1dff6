//! Shared helpers: `|` <-> SOH, message construction with correct BodyLength and
//! CheckSum, and a scripted-conversation harness around one [`Session`].
#![allow(dead_code)]

use arbiter_fix::{
    checksum, format_utc_timestamp, frame, Application, DisconnectReason, FixVersion, FrameResult,
    MemoryStore, Message, MessageStore, Outbox, Session, SessionConfig, SessionId,
    TimestampPrecision, TIMESTAMP_LEN_MAX,
};

pub const T0: u64 = 1_709_210_096_000_000_000; // 2024-02-29 12:34:56 UTC
pub const SEC: u64 = 1_000_000_000;

pub fn soh(s: &str) -> Vec<u8> {
    s.replace('|', "\x01").into_bytes()
}

pub fn pipes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\x01', "|")
}

pub fn ts(ns: u64) -> String {
    let mut out = [0u8; TIMESTAMP_LEN_MAX];
    let n = format_utc_timestamp(ns, TimestampPrecision::Millis, &mut out);
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// Wraps `body` ("35=...|...|") with 8, 9 and 10.
pub fn wrap(version: FixVersion, body: &str) -> Vec<u8> {
    let body = soh(body);
    let mut msg = b"8=".to_vec();
    msg.extend_from_slice(version.begin_string());
    msg.extend_from_slice(format!("\x019={}\x01", body.len()).as_bytes());
    msg.extend_from_slice(&body);
    let sum = checksum(&msg);
    msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    msg
}

/// Value of `tag` in a `|`-separated message.
pub fn field(msg: &str, tag: u32) -> Option<String> {
    let prefix = format!("{tag}=");
    msg.split('|')
        .find_map(|f| f.strip_prefix(&prefix).map(str::to_owned))
}

#[derive(Default, Debug)]
pub struct Recorder {
    pub app_messages: Vec<String>,
    pub logons: u32,
    pub logouts: Vec<DisconnectReason>,
}

impl Application for Recorder {
    fn on_app_message(&mut self, _session: SessionId, msg: &Message<'_>) {
        self.app_messages.push(pipes(msg.as_bytes()));
    }
    fn on_logon(&mut self, _session: SessionId) {
        self.logons += 1;
    }
    fn on_logout(&mut self, _session: SessionId, reason: DisconnectReason) {
        self.logouts.push(reason);
    }
}

pub fn config(version: FixVersion) -> SessionConfig {
    SessionConfig::new(version, "ARB", "CLIENT")
}

pub struct Harness<S: MessageStore = MemoryStore> {
    pub version: FixVersion,
    pub session: Session<S>,
    pub out: Outbox,
    pub app: Recorder,
    pub now: u64,
}

impl Harness<MemoryStore> {
    pub fn new(version: FixVersion) -> Self {
        Self::with_config(config(version))
    }
    pub fn with_config(config: SessionConfig) -> Self {
        Self::with_store(config, MemoryStore::new(T0))
    }
}

impl<S: MessageStore> Harness<S> {
    pub fn with_store(config: SessionConfig, store: S) -> Self {
        let version = config.version;
        let mut h = Harness {
            version,
            session: Session::new(SessionId(0), config, store),
            out: Outbox::new(1 << 20),
            app: Recorder::default(),
            now: T0,
        };
        h.session.on_connect(h.now);
        h
    }

    /// Feeds raw bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        self.session
            .on_bytes(self.now, bytes, &mut self.out, &mut self.app)
    }

    /// Feeds a message with a standard header (CLIENT -> ARB, SendingTime = now).
    pub fn recv(&mut self, msg_type: &str, seq: u64, rest: &str) {
        let body = format!(
            "35={msg_type}|49=CLIENT|56=ARB|34={seq}|52={}|{rest}",
            ts(self.now)
        );
        let bytes = wrap(self.version, &body);
        assert_eq!(self.feed(&bytes), bytes.len());
    }

    /// Feeds a message whose body after 35 is given verbatim.
    pub fn recv_body(&mut self, body: &str) {
        let bytes = wrap(self.version, body);
        self.feed(&bytes);
    }

    pub fn logon_fields(&self) -> &'static str {
        match self.version {
            FixVersion::Fix44 => "98=0|108=30|",
            FixVersion::Fixt11 => "98=0|108=30|1137=9|",
        }
    }

    pub fn logon(&mut self) {
        let fields = self.logon_fields();
        self.recv("A", 1, fields);
        let sent = self.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(field(&sent[0], 35).as_deref(), Some("A"));
        assert!(self.session.is_logged_on());
    }

    /// Drains and returns what the session sent, checking each message frames.
    pub fn sent(&mut self) -> Vec<String> {
        let mut messages = Vec::new();
        let mut pending = self.out.pending();
        while !pending.is_empty() {
            match frame(pending) {
                FrameResult::Complete(n) => {
                    messages.push(pipes(&pending[..n]));
                    pending = &pending[n..];
                }
                other => panic!("session sent unframeable bytes: {other:?}"),
            }
        }
        let n = self.out.pending().len();
        self.out.consume(n);
        messages
    }

    pub fn disconnect_requested(&self) -> Option<DisconnectReason> {
        self.out.disconnect_requested()
    }

    pub fn timer(&mut self, now: u64) {
        self.now = now;
        self.session.on_timer(now, &mut self.out);
    }
}

pub const VERSIONS: [FixVersion; 2] = [FixVersion::Fix44, FixVersion::Fixt11];

pub const NOS: &str = "11=ORD1|54=1|60=20240229-12:34:56|40=2|38=100|44=101.25|55=XYZ|";
