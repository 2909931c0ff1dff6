//! Words for enum values: the Debug name turned into `SCREAMING_SNAKE` (`PriceOffTick` →
//! `PRICE_OFF_TICK`), so variants added to the engine later get a word without a code change.
use std::fmt::Debug;

use arbiter_engine::{CommandKind, Event};

/// `CamelCase` → `CAMEL_CASE`, from the value's Debug text up to its first field.
#[must_use]
pub fn word<T: Debug>(value: &T) -> String {
    let debug = format!("{value:?}");
    let name = debug
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    screaming_snake(name)
}

/// `CamelCase` → `CAMEL_CASE`.
#[must_use]
pub fn screaming_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The kind word of a command (`NEW_ORDER`, `CANCEL`, ..., `RISK`).
#[must_use]
pub fn command_word(kind: &CommandKind) -> &'static str {
    match kind {
        CommandKind::NewOrder(_) => "NEW_ORDER",
        CommandKind::Cancel(_) => "CANCEL",
        CommandKind::Replace(_) => "REPLACE",
        CommandKind::MassCancel(_) => "MASS_CANCEL",
        CommandKind::Clock => "CLOCK",
        CommandKind::EndOfDay => "END_OF_DAY",
        CommandKind::SetPhase { .. } => "SET_PHASE",
        _ => intern(word(kind)),
    }
}

/// The kind word of an event (`ACCEPTED`, `TRADE`, ..., `RISK`).
#[must_use]
pub fn event_word(event: &Event) -> &'static str {
    match event {
        Event::Accepted { .. } => "ACCEPTED",
        Event::Rejected { .. } => "REJECTED",
        Event::Trade(_) => "TRADE",
        Event::Cancelled { .. } => "CANCELLED",
        Event::Replaced { .. } => "REPLACED",
        Event::Triggered { .. } => "TRIGGERED",
        Event::Refreshed { .. } => "REFRESHED",
        Event::PhaseChanged { .. } => "PHASE_CHANGED",
        Event::MassCancelled { .. } => "MASS_CANCELLED",
        _ => intern(word(event)),
    }
}

/// Keeps a word for the life of the process: the set of variant names is small and fixed,
/// so this leaks at most a few bytes per variant, once.
fn intern(word: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static WORDS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut words = WORDS
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(existing) = words.get(word.as_str()) {
        return existing;
    }
    let leaked: &'static str = Box::leak(word.into_boxed_str());
    words.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_engine::{RejectReason, TimeInForce};

    #[test]
    fn words_from_debug_names() {
        assert_eq!(word(&RejectReason::PriceOffTick), "PRICE_OFF_TICK");
        assert_eq!(word(&TimeInForce::Gtc), "GTC");
        assert_eq!(command_word(&CommandKind::EndOfDay), "END_OF_DAY");
    }
}
