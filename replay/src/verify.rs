//! `verify`: CRC, hash chain, sequence continuity and snapshot files, end to end. The
//! journal crate does the record-level work ([`arbiter_journal::verify`]); this adds the
//! snapshot files and the report.
use std::io::Write;
use std::path::{Path, PathBuf};

use arbiter_journal::{read_snapshot, JournalError, VerifyReport};

use crate::error::ReplayError;
use crate::Outcome;

/// What `verify` found, for callers that want the figures (`bench`).
#[derive(Debug)]
pub struct Verified {
    /// The journal crate's report (`None` when a segment could not even be read as one).
    pub report: Option<VerifyReport>,
    /// The first problem, as a line for people.
    pub problem: Option<String>,
    /// Snapshot files that validated.
    pub snapshots_valid: u64,
}

/// Snapshot files `snapshot-N.snap` in the journal directory or its `snapshots/` folder.
fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("snapshots")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("snapshot-") && name.ends_with(".snap") {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

/// Checks the journal and its snapshot files.
///
/// # Errors
/// I/O errors other than damage (damage is a finding in [`Verified::problem`]).
pub fn check(dir: &Path) -> Result<Verified, ReplayError> {
    check_report(dir, arbiter_journal::verify(dir), true)
}

/// Turns the journal crate's verdict into a [`Verified`], adding the snapshot files when
/// `snapshots` (a journal; an access trail has none).
fn check_report(
    dir: &Path,
    result: Result<VerifyReport, JournalError>,
    snapshots: bool,
) -> Result<Verified, ReplayError> {
    let report = match result {
        Ok(report) => report,
        Err(e @ (JournalError::UnsupportedFormat { .. } | JournalError::Corrupt(_))) => {
            return Ok(Verified {
                report: None,
                problem: Some(e.to_string()),
                snapshots_valid: 0,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut problem = report.first_problem.as_ref().map(|c| {
        format!(
            "segment {} offset {} sequence {}: {}",
            c.segment.display(),
            c.offset,
            c.sequence.0,
            c.kind
        )
    });
    let mut snapshots_valid = 0;
    let files = if snapshots {
        snapshot_files(dir)
    } else {
        Vec::new()
    };
    for path in files {
        match read_snapshot(&path) {
            Ok(snapshot) => {
                let last = report.last_sequence.map_or(0, |s| s.0);
                if snapshot.sequence.0 > last && problem.is_none() {
                    problem = Some(format!(
                        "snapshot {}: covers sequence {} beyond the journal's last record {last}",
                        path.display(),
                        snapshot.sequence.0
                    ));
                } else {
                    snapshots_valid += 1;
                }
            }
            Err(e) => {
                if problem.is_none() {
                    problem = Some(e.to_string());
                }
            }
        }
    }
    Ok(Verified {
        report: Some(report),
        problem,
        snapshots_valid,
    })
}

/// Options of `verify` beyond the directory.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Check signed checkpoints with this public key file.
    pub public_key: Option<PathBuf>,
    /// Also compare with this anchor file.
    pub anchor: Option<PathBuf>,
    /// Accept seals after the last checkpoint.
    pub allow_unsigned_tail: bool,
    /// The directory is an access trail.
    pub access: bool,
}

/// Runs `verify DIR [--public-key FILE [--anchor FILE] [--allow-unsigned-tail]]`.
///
/// # Errors
/// I/O errors and unreadable key files (damage is reported as output and
/// [`Outcome::Findings`]).
pub fn run_with(
    dir: &Path,
    options: &Options,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let Some(public_key) = &options.public_key else {
        if options.access {
            return run_plain(dir, out);
        }
        return run(dir, out);
    };
    let key = arbiter_journal::PublicKey::load(public_key)?;
    // One pass: the signed verification checks CRCs, chain and sequences as it goes.
    let result = arbiter_journal::verify_signed(dir, &key, options.anchor.as_deref());
    let verified = check_report(dir, result, !options.access)?;
    let outcome = print(&verified, !options.access, out)?;
    let Some(report) = &verified.report else {
        return Ok(outcome);
    };
    writeln!(
        out,
        "signed_seals={} unsigned_seals={} last_signed_seq={} anchored_seals={}",
        report.signed_seals,
        report.unsigned_seals,
        report.last_signed_sequence.map_or(0, |s| s.0),
        report.anchored_seals
    )?;
    if outcome == Outcome::Findings {
        return Ok(outcome);
    }
    if report.unsigned_seals > 0 && !options.allow_unsigned_tail {
        writeln!(
            out,
            "UNSIGNED: {} seals after sequence {} have no checkpoint (a live journal's tail, or checkpoints removed); --allow-unsigned-tail accepts them",
            report.unsigned_seals,
            report.last_signed_sequence.map_or(0, |s| s.0)
        )?;
        return Ok(Outcome::Findings);
    }
    writeln!(out, "SIGNED OK")?;
    Ok(Outcome::Clean)
}

/// `verify` without snapshot files (the access trail has none).
fn run_plain(dir: &Path, out: &mut dyn Write) -> Result<Outcome, ReplayError> {
    let verified = check_report(dir, arbiter_journal::verify(dir), false)?;
    print(&verified, false, out)
}

/// Runs `keygen SECRET [PUBLIC]`.
///
/// # Errors
/// The files cannot be created (either exists, or no permission).
pub fn keygen(
    secret: &Path,
    public: Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let public = public.unwrap_or_else(|| {
        let mut name = secret.as_os_str().to_owned();
        name.push(".pub");
        PathBuf::from(name)
    });
    let key = arbiter_journal::SigningKey::generate()?;
    key.write_pair(secret, &public)?;
    writeln!(
        out,
        "secret key {} (mode 0600), public key {} ({})",
        secret.display(),
        public.display(),
        key.public_key()
    )?;
    Ok(Outcome::Clean)
}

/// Runs `verify DIR`.
///
/// # Errors
/// I/O errors (damage is reported as output and [`Outcome::Findings`]).
pub fn run(dir: &Path, out: &mut dyn Write) -> Result<Outcome, ReplayError> {
    let verified = check(dir)?;
    print(&verified, true, out)
}

/// The summary line, then `OK` or the first problem.
fn print(
    verified: &Verified,
    snapshots: bool,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    if let Some(report) = &verified.report {
        if snapshots {
            let range = match (report.first_sequence, report.last_sequence) {
                (Some(first), Some(last)) => format!("sequence {}..={}", first.0, last.0),
                _ => "no records".to_owned(),
            };
            writeln!(
                out,
                "segments={} records={} seals={} unsealed_records={} snapshots_valid={} ({range})",
                report.segments,
                report.records,
                report.seals,
                report.unsealed_records,
                verified.snapshots_valid
            )?;
        } else {
            writeln!(
                out,
                "segments={} records={} seals={} unsealed_records={}",
                report.segments, report.records, report.seals, report.unsealed_records
            )?;
        }
    }
    match &verified.problem {
        None => {
            writeln!(out, "OK")?;
            Ok(Outcome::Clean)
        }
        Some(problem) => {
            writeln!(out, "CORRUPT: {problem}")?;
            Ok(Outcome::Findings)
        }
    }
}
