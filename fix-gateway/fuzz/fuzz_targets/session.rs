//! A session fed arbitrary bytes (after an optional valid logon) must never panic.
#![no_main]
use arbiter_fix::{
    Application, FixVersion, MemoryStore, Message, Outbox, Session, SessionConfig, SessionId,
};
use libfuzzer_sys::fuzz_target;

struct Sink;
impl Application for Sink {
    fn on_app_message(&mut self, _: SessionId, _: &Message<'_>) {}
}

fuzz_target!(|data: &[u8]| {
    let version = if data.first().is_some_and(|b| b & 1 == 1) {
        FixVersion::Fixt11
    } else {
        FixVersion::Fix44
    };
    let now = 1_709_210_096_000_000_000u64;
    let mut session = Session::new(
        SessionId(0),
        SessionConfig::new(version, "ARB", "CLIENT"),
        MemoryStore::new(now),
    );
    let mut out = Outbox::new(1 << 20);
    session.on_connect(now);
    let mut app = Sink;
    for (i, chunk) in data.chunks(64).enumerate() {
        let t = now + i as u64 * 1_000_000_000;
        session.on_bytes(t, chunk, &mut out, &mut app);
        session.on_timer(t, &mut out);
        let n = out.pending().len();
        out.consume(n);
    }
});
