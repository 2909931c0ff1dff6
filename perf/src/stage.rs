//! The stages of one order's path through Arbiter, each timed by one histogram.

/// A timed hop of the order path. The discriminant indexes fixed arrays of histograms, so
/// adding a stage is a compile-time change of [`STAGE_COUNT`], never a runtime allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Stage {
    /// Gateway: bytes read from the socket until the message is framed and decoded.
    SocketReadToDecoded = 0,
    /// Gateway: decoded until the `Command` is published to the inbound ring.
    DecodedToEnqueued = 1,
    /// Ring hop: published by the gateway until taken by the sequencer.
    EnqueuedToDequeued = 2,
    /// Sequencer: taken from the ring until appended to the journal.
    DequeuedToJournaled = 3,
    /// Sequencer: journaled until risk checks and matching have emitted the events.
    JournaledToMatched = 4,
    /// Ring hop: events emitted until the gateway takes them.
    MatchedToGatewayDequeued = 5,
    /// Gateway: events taken until the ExecutionReport is encoded.
    GatewayDequeuedToEncoded = 6,
    /// Gateway: encoded until the socket write returns.
    EncodedToWritten = 7,
    /// Flusher: written until the journal is durable past the command (sync policy).
    WrittenToDurable = 8,
    /// The whole path: socket read until the (first) ExecutionReport is written.
    WireToWire = 9,
    /// Market data: the command's journal timestamp until its feed packet is sent (wall
    /// clock on both ends: the market-data agent follows the journal, not the sequencer).
    JournaledToPublished = 10,
}

/// Number of [`Stage`] variants.
pub const STAGE_COUNT: usize = 11;

impl Stage {
    /// Every stage, in path order.
    pub const ALL: [Stage; STAGE_COUNT] = [
        Stage::SocketReadToDecoded,
        Stage::DecodedToEnqueued,
        Stage::EnqueuedToDequeued,
        Stage::DequeuedToJournaled,
        Stage::JournaledToMatched,
        Stage::MatchedToGatewayDequeued,
        Stage::GatewayDequeuedToEncoded,
        Stage::EncodedToWritten,
        Stage::WrittenToDurable,
        Stage::WireToWire,
        Stage::JournaledToPublished,
    ];

    /// Index into per-stage arrays.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The stable name used as `.hlog` tag, dump file name and Prometheus label.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Stage::SocketReadToDecoded => "socket_read_to_decoded",
            Stage::DecodedToEnqueued => "decoded_to_enqueued",
            Stage::EnqueuedToDequeued => "enqueued_to_dequeued",
            Stage::DequeuedToJournaled => "dequeued_to_journaled",
            Stage::JournaledToMatched => "journaled_to_matched",
            Stage::MatchedToGatewayDequeued => "matched_to_gateway_dequeued",
            Stage::GatewayDequeuedToEncoded => "gateway_dequeued_to_encoded",
            Stage::EncodedToWritten => "encoded_to_written",
            Stage::WrittenToDurable => "written_to_durable",
            Stage::WireToWire => "wire_to_wire",
            Stage::JournaledToPublished => "journaled_to_published",
        }
    }

    /// The stage called `name` (see [`Stage::name`]).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl core::fmt::Display for Stage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

const _: () = assert!(Stage::JournaledToPublished as usize + 1 == STAGE_COUNT);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_and_names_are_consistent() {
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(stage.index(), i);
            assert_eq!(Stage::from_name(stage.name()), Some(stage));
            assert!(!stage.name().contains([',', ' ', '=']));
        }
        assert_eq!(Stage::from_name("nope"), None);
    }
}
