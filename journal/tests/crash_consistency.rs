//! A writer process SIGKILLed at random points, under each durability policy, leaves a
//! journal that reopens to a prefix of what it wrote, containing every record it had been
//! told was durable, with sequence continuity and the right payloads.
//!
//! The child is this test binary re-executed with `ARBITER_JOURNAL_CRASH_DIR` set: it
//! appends records whose payload derives from the sequence and prints `durable N` each
//! time the durable cursor moves. The parent kills it after a random number of reports
//! (progress-driven, not timing-driven), then recovers and checks.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use arbiter_journal::{verify, Durability, Journal, RecordType, Sequence};
use common::{assert_prefix, config, payload, timestamp};

const DIR_VAR: &str = "ARBITER_JOURNAL_CRASH_DIR";
const POLICY_VAR: &str = "ARBITER_JOURNAL_CRASH_POLICY";
const SEGMENT: u64 = 256 * 1024;
const CHILD_RECORDS_MAX: u64 = 2_000_000;

fn policy(name: &str) -> Durability {
    match name {
        "none" => Durability::None,
        "batch" => Durability::Batch {
            interval_us: 300,
            records: 64,
        },
        _ => Durability::Sync,
    }
}

fn child_config(name: &str) -> arbiter_journal::JournalConfig {
    let mut cfg = config(SEGMENT);
    cfg.durability = policy(name);
    // A large backstop: blocks are mostly sealed by the flusher's posted seals.
    cfg.seal_interval_records = 4096;
    cfg
}

/// The child's body; a no-op in a normal test run.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let name = std::env::var(POLICY_VAR).unwrap();
    let (mut writer, _) = Journal::open(&dir, child_config(&name)).unwrap();
    let flusher = writer.flusher().unwrap().spawn();
    let cursor = writer.durable_cursor();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut reported = cursor.get();
    writeln!(out, "durable {}", reported.0).unwrap();
    out.flush().unwrap();
    for _ in 0..CHILD_RECORDS_MAX {
        let sequence = writer.next_sequence();
        writer
            .append(
                RecordType(1),
                sequence,
                timestamp(sequence.0),
                &payload(sequence.0),
            )
            .unwrap();
        // Like a client waiting for acknowledgements: bounds the records per run so the
        // test stays short, while kills still land anywhere (append, roll, seal, msync).
        if sequence.0 % 256 == 0 {
            let _ = cursor.wait_for(
                Sequence(sequence.0 - 128),
                std::time::Duration::from_secs(5),
            );
        }
        let durable = cursor.get();
        if durable != reported {
            reported = durable;
            writeln!(out, "durable {}", durable.0).unwrap();
            out.flush().unwrap();
        }
    }
    flusher.stop().unwrap();
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn crash_many_times(name: &str, runs: u32, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut random = XorShift(seed);
    let exe = std::env::current_exe().unwrap();
    for run in 0..runs {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, dir.path())
            .env(POLICY_VAR, name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reports_before_kill = 1 + random.next() % 40;
        let mut reports = 0;
        let mut durable_max = 0u64;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while reports < reports_before_kill {
            let Some(line) = lines.next() else { break };
            if let Some(n) = line.unwrap().strip_prefix("durable ") {
                durable_max = durable_max.max(n.trim().parse().unwrap());
                reports += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let (writer, report) = Journal::open(dir.path(), child_config(name)).unwrap();
        let last = report.next_sequence.0 - 1;
        eprintln!(
            "{name} run {run}: durable reported {durable_max}, recovered {last}, cut {:?}",
            report.truncated.as_ref().map(|t| (t.bytes, t.records))
        );
        assert!(
            last >= durable_max,
            "{name} run {run}: recovered up to {last}, but {durable_max} was reported durable"
        );
        drop(writer);
        assert_prefix(dir.path(), 1, last);
        let verified = verify(dir.path()).unwrap();
        assert!(
            verified.is_ok(),
            "{name} run {run}: {:?}",
            verified.first_problem
        );
        assert_eq!(
            verified.last_sequence.unwrap_or(Sequence(0)),
            Sequence(last)
        );
    }
}

#[test]
fn sigkill_with_durability_none_leaves_a_durable_prefix() {
    crash_many_times("none", 8, 0x9E37_79B9_7F4A_7C15);
}

#[test]
fn sigkill_with_durability_batch_leaves_a_durable_prefix() {
    crash_many_times("batch", 8, 0xD1B5_4A32_D192_ED03);
}

#[test]
fn sigkill_with_durability_sync_leaves_a_durable_prefix() {
    crash_many_times("sync", 8, 0xA24B_AED4_963E_E407);
}
