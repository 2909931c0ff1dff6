//! `arbiter host-check`: is this host tuned for the latency budgets?
//!
//! Reads only `/proc` and `/sys` (both roots injectable, so tests run against
//! fixture trees) plus configuration. Every check yields pass / warn / fail /
//! unknown with a fix; a check that cannot see what it needs says **unknown**
//! rather than guessing.
//!
//! # Required checks
//! [`Report::exit_code`] is 1 when a *required* check fails, else 0. Required
//! are the checks whose failure breaks a guarantee rather than a latency figure:
//!
//! | check | why required |
//! | --- | --- |
//! | `pinned_cores` | a pinned core that does not exist or is offline: the engine cannot start as configured |
//! | `isolcpus` | busy-spinning pinned threads on non-isolated cores share them with everything else: the budgets are void |
//! | `clock_sync` | MiFID II RTS 25: stamps must be within the offset limit of UTC; wrong stamps are journaled forever |
//! | `journal_fs` | a journal on tmpfs/overlay/network storage is not durable: "journal before effect" is void |
//!
//! Everything else can fail or warn without changing the exit code: the SRE
//! reads the table.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::clock_sync::{
    process_running, running_sync_daemons, ClockSyncStatus, KernelTimeState, SyncVerdict,
};

/// What the host check looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCheckInput {
    /// Usually `/proc`.
    pub proc_root: PathBuf,
    /// Usually `/sys`.
    pub sys_root: PathBuf,
    /// Cores the configuration pins agents to.
    pub pinned_cores: Vec<usize>,
    /// The trading NIC (`ens1f0`), if configured.
    pub nic: Option<String>,
    /// The journal directory (looked up in `<proc_root>/self/mountinfo`).
    pub journal_dir: PathBuf,
    /// Clock offset limit in µs (default 100, MiFID II RTS 25).
    pub clock_offset_limit_us: u64,
    /// Kernel NTP state. Not in /proc or /sys (it is an `adjtimex` call), so it
    /// is an input: [`HostCheckInput::from_live`] reads it, fixtures inject it;
    /// `None` makes the clock check report unknown.
    pub kernel_time: Option<KernelTimeState>,
}

impl HostCheckInput {
    /// Input for the live host: `/proc`, `/sys`, and the live kernel time state.
    ///
    /// Note `/proc/self/limits` is the *checking* process's: run the check as
    /// the engine's user / unit to see the engine's memlock limit.
    #[must_use]
    pub fn from_live(
        pinned_cores: Vec<usize>,
        nic: Option<String>,
        journal_dir: PathBuf,
        clock_offset_limit_us: u64,
    ) -> Self {
        let journal_dir = fs::canonicalize(&journal_dir).unwrap_or(journal_dir);
        Self {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            pinned_cores,
            nic,
            journal_dir,
            clock_offset_limit_us,
            kernel_time: KernelTimeState::read().ok(),
        }
    }
}

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As recommended.
    Pass,
    /// Works, costs latency or robustness.
    Warn,
    /// Wrong for production.
    Fail,
    /// Could not be determined from /proc and /sys.
    Unknown,
}

impl Status {
    /// Lower-case name as printed.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier (`isolcpus`, `cpu_governor`, ...).
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// Whether a `fail` here makes [`Report::exit_code`] non-zero.
    pub required: bool,
    /// What was seen.
    pub detail: String,
    /// What to do about it (empty on pass).
    pub fix: String,
}

/// All checks, in a fixed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    exit_code: i32,
    summary: Summary,
    checks: &'a [Check],
}

#[derive(Serialize)]
struct Summary {
    pass: usize,
    warn: usize,
    fail: usize,
    unknown: usize,
}

impl Report {
    /// The check called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.name == name)
    }

    /// 1 when a required check failed, else 0.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        i32::from(
            self.checks
                .iter()
                .any(|check| check.required && check.status == Status::Fail),
        )
    }

    fn count(&self, status: Status) -> usize {
        self.checks
            .iter()
            .filter(|check| check.status == status)
            .count()
    }

    /// Aligned text table: check, status, detail, fix; a `*` marks required checks.
    #[must_use]
    pub fn render_table(&self) -> String {
        let headers = ["check", "status", "detail", "fix"];
        let rows: Vec<[String; 4]> = self
            .checks
            .iter()
            .map(|check| {
                let name = if check.required {
                    format!("{}*", check.name)
                } else {
                    check.name.to_owned()
                };
                [
                    name,
                    check.status.as_str().to_owned(),
                    check.detail.clone(),
                    check.fix.clone(),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: [&str; 4]| {
            let mut text = String::new();
            for (index, cell) in cells.iter().enumerate() {
                if index == 3 {
                    text.push_str(cell);
                } else {
                    let pad = widths[index] - cell.chars().count();
                    let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(headers);
        let rules = widths.map(|width| "-".repeat(width));
        line([&rules[0], &rules[1], &rules[2], &rules[3]]);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3]]);
        }
        let _ = writeln!(
            out,
            "\n{} pass, {} warn, {} fail, {} unknown (* = required; exit code {})",
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail),
            self.count(Status::Unknown),
            self.exit_code()
        );
        out
    }

    /// The report as pretty JSON, with `exit_code` and a `summary`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let report = JsonReport {
            exit_code: self.exit_code(),
            summary: Summary {
                pass: self.count(Status::Pass),
                warn: self.count(Status::Warn),
                fail: self.count(Status::Fail),
                unknown: self.count(Status::Unknown),
            },
            checks: &self.checks,
        };
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }
}

fn check(
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    let fix = if status == Status::Pass {
        String::new()
    } else {
        fix.into()
    };
    Check {
        name,
        status,
        required: false,
        detail: detail.into(),
        fix,
    }
}

fn required(mut check: Check) -> Check {
    check.required = true;
    check
}

fn read(root: &Path, relative: &str) -> Option<String> {
    fs::read_to_string(root.join(relative))
        .ok()
        .map(|text| text.trim().to_owned())
}

/// Parses a kernel cpulist (`0-3,8,10-11`), skipping flag words such as
/// `managed_irq` or `domain` that `isolcpus=` allows. `None` on garbage ranges.
#[must_use]
pub fn parse_cpulist(text: &str) -> Option<BTreeSet<usize>> {
    let mut cpus = BTreeSet::new();
    for part in text
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        if part.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        // `2-11:2/4` (grouped ranges) is rare; take the plain range part.
        let range = part.split(':').next().unwrap_or(part);
        match range.split_once('-') {
            Some((low, high)) => {
                let low: usize = low.parse().ok()?;
                let high: usize = high.parse().ok()?;
                if low > high || high - low > 65_536 {
                    return None;
                }
                cpus.extend(low..=high);
            }
            None => {
                cpus.insert(range.parse().ok()?);
            }
        }
    }
    Some(cpus)
}

/// Value of `key=` on the kernel command line (the last one wins, as in the kernel).
fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .rev()
        .filter_map(|word| word.split_once('='))
        .find(|(name, _)| *name == key)
        .map(|(_, value)| value)
}

fn format_cpus(cpus: &BTreeSet<usize>) -> String {
    let list: Vec<String> = cpus.iter().map(ToString::to_string).collect();
    list.join(",")
}

struct Context<'a> {
    input: &'a HostCheckInput,
    pinned: BTreeSet<usize>,
    cmdline: Option<String>,
}

/// Runs every check. Never panics on odd or missing files.
#[must_use]
pub fn run(input: &HostCheckInput) -> Report {
    let context = Context {
        input,
        pinned: input.pinned_cores.iter().copied().collect(),
        cmdline: read(&input.proc_root, "cmdline"),
    };
    let checks = vec![
        check_pinned_cores(&context),
        check_cmdline_cpus(&context, "isolcpus", true),
        check_cmdline_cpus(&context, "nohz_full", false),
        check_cmdline_cpus(&context, "rcu_nocbs", false),
        check_governor(&context),
        check_turbo(&context),
        check_cstates(&context),
        check_smt(&context),
        check_nic_numa(&context),
        check_thp(&context),
        check_swap(&context),
        check_clocksource(&context),
        check_irq_affinity(&context),
        check_busy_poll(&context),
        check_nic_link(&context),
        check_nic_rings(&context),
        check_journal_fs(&context),
        check_journal_device(&context),
        check_memlock(&context),
        check_clock_sync(&context),
    ];
    Report { checks }
}

fn check_pinned_cores(context: &Context<'_>) -> Check {
    let name = "pinned_cores";
    if context.pinned.is_empty() {
        return required(check(
            name,
            Status::Unknown,
            "no cores pinned in the configuration",
            "set core = N for gateway, sequencer and flusher",
        ));
    }
    let Some(online) = read(&context.input.sys_root, "devices/system/cpu/online")
        .as_deref()
        .and_then(parse_cpulist)
    else {
        return required(check(
            name,
            Status::Unknown,
            "devices/system/cpu/online not readable",
            "cat /sys/devices/system/cpu/online",
        ));
    };
    let missing: BTreeSet<usize> = context.pinned.difference(&online).copied().collect();
    if missing.is_empty() {
        required(check(
            name,
            Status::Pass,
            format!("pinned {} online", format_cpus(&context.pinned)),
            "",
        ))
    } else {
        required(check(
            name,
            Status::Fail,
            format!("pinned cores {} not online (online: {})", format_cpus(&missing), format_cpus(&online)),
            "pin to cores that exist and are online, or bring them online (echo 1 > /sys/devices/system/cpu/cpuN/online)",
        ))
    }
}

fn check_cmdline_cpus(context: &Context<'_>, key: &'static str, is_required: bool) -> Check {
    let fix = format!(
        "add {key}={} to the kernel command line (GRUB_CMDLINE_LINUX), update-grub, reboot",
        if context.pinned.is_empty() {
            "<pinned cores>".to_owned()
        } else {
            format_cpus(&context.pinned)
        }
    );
    let result = match &context.cmdline {
        None => check(
            key,
            Status::Unknown,
            "/proc/cmdline not readable",
            "cat /proc/cmdline",
        ),
        Some(_) if context.pinned.is_empty() => check(
            key,
            Status::Unknown,
            "no pinned cores to compare against",
            fix,
        ),
        Some(cmdline) => match cmdline_value(cmdline, key) {
            None => check(
                key,
                if is_required {
                    Status::Fail
                } else {
                    Status::Warn
                },
                format!("{key} not on the kernel command line"),
                fix,
            ),
            Some(value) => match parse_cpulist(value) {
                None => check(
                    key,
                    Status::Unknown,
                    format!("cannot parse {key}={value}"),
                    fix,
                ),
                Some(cpus) => {
                    let uncovered: BTreeSet<usize> =
                        context.pinned.difference(&cpus).copied().collect();
                    if uncovered.is_empty() {
                        check(
                            key,
                            Status::Pass,
                            format!(
                                "{key}={value} covers pinned {}",
                                format_cpus(&context.pinned)
                            ),
                            "",
                        )
                    } else {
                        check(
                            key,
                            if is_required {
                                Status::Fail
                            } else {
                                Status::Warn
                            },
                            format!("{key}={value} misses pinned {}", format_cpus(&uncovered)),
                            fix,
                        )
                    }
                }
            },
        },
    };
    if is_required {
        required(result)
    } else {
        result
    }
}

/// The cores to look at: the pinned ones, or every online CPU when none are pinned.
fn cores_of_interest(context: &Context<'_>) -> BTreeSet<usize> {
    if !context.pinned.is_empty() {
        return context.pinned.clone();
    }
    read(&context.input.sys_root, "devices/system/cpu/online")
        .as_deref()
        .and_then(parse_cpulist)
        .unwrap_or_default()
}

fn check_governor(context: &Context<'_>) -> Check {
    let name = "cpu_governor";
    let fix =
        "cpupower frequency-set -g performance (persist with a tuned profile or systemd unit)";
    let cores = cores_of_interest(context);
    let mut slow = Vec::new();
    let mut seen = 0;
    for core in &cores {
        if let Some(governor) = read(
            &context.input.sys_root,
            &format!("devices/system/cpu/cpu{core}/cpufreq/scaling_governor"),
        ) {
            seen += 1;
            if governor != "performance" {
                slow.push(format!("cpu{core}={governor}"));
            }
        }
    }
    if seen == 0 {
        check(
            name,
            Status::Unknown,
            "no cpufreq/scaling_governor (VM, or cpufreq driver disabled)",
            "check BIOS power profile is 'maximum performance'",
        )
    } else if slow.is_empty() {
        check(
            name,
            Status::Pass,
            format!("performance on {seen} cores"),
            "",
        )
    } else {
        check(name, Status::Warn, slow.join(" "), fix)
    }
}

fn check_turbo(context: &Context<'_>) -> Check {
    let name = "turbo";
    let sys = &context.input.sys_root;
    let fix = "pin frequency: echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo (or cpufreq/boost = 0), or accept turbo jitter knowingly";
    if let Some(value) = read(sys, "devices/system/cpu/intel_pstate/no_turbo") {
        return match value.as_str() {
            "1" => check(
                name,
                Status::Pass,
                "intel_pstate no_turbo=1: fixed frequency",
                "",
            ),
            "0" => check(
                name,
                Status::Warn,
                "intel_pstate turbo on: frequency moves with load and heat",
                fix,
            ),
            other => check(
                name,
                Status::Unknown,
                format!("intel_pstate/no_turbo={other}"),
                fix,
            ),
        };
    }
    if let Some(value) = read(sys, "devices/system/cpu/cpufreq/boost") {
        return match value.as_str() {
            "0" => check(name, Status::Pass, "cpufreq boost=0: fixed frequency", ""),
            "1" => check(
                name,
                Status::Warn,
                "cpufreq boost on: frequency moves with load and heat",
                fix,
            ),
            other => check(name, Status::Unknown, format!("cpufreq/boost={other}"), fix),
        };
    }
    check(
        name,
        Status::Unknown,
        "neither intel_pstate/no_turbo nor cpufreq/boost present",
        "check turbo in the BIOS",
    )
}

fn check_cstates(context: &Context<'_>) -> Check {
    let name = "c_states";
    let fix = "add intel_idle.max_cstate=0 processor.max_cstate=1 (or idle=poll on dedicated hosts) to the kernel command line";
    if let Some(cmdline) = &context.cmdline {
        let words: Vec<&str> = cmdline.split_whitespace().collect();
        if words.contains(&"idle=poll") {
            return check(name, Status::Pass, "idle=poll", "");
        }
        let intel = cmdline_value(cmdline, "intel_idle.max_cstate");
        let processor = cmdline_value(cmdline, "processor.max_cstate");
        if matches!(intel, Some("0")) && matches!(processor, Some("0" | "1")) {
            return check(
                name,
                Status::Pass,
                format!(
                    "intel_idle.max_cstate=0 processor.max_cstate={}",
                    processor.unwrap_or("?")
                ),
                "",
            );
        }
    }
    // Fall back to cpuidle: deep states (index >= 2) enabled on a core of interest.
    let sys = &context.input.sys_root;
    let mut deep = Vec::new();
    let mut seen_any = false;
    for core in cores_of_interest(context) {
        for index in 0..16 {
            let base = format!("devices/system/cpu/cpu{core}/cpuidle/state{index}");
            let Some(state_name) = read(sys, &format!("{base}/name")) else {
                break;
            };
            seen_any = true;
            let disabled = read(sys, &format!("{base}/disable")).is_some_and(|value| value == "1");
            if index >= 2 && !disabled {
                deep.push(format!("cpu{core}:{state_name}"));
            }
        }
    }
    if !seen_any {
        return check(
            name,
            Status::Unknown,
            "no C-state limit on the command line and no cpuidle in /sys",
            fix,
        );
    }
    if deep.is_empty() {
        check(name, Status::Pass, "deep C-states disabled in cpuidle", "")
    } else {
        deep.truncate(6);
        check(
            name,
            Status::Warn,
            format!("deep C-states enabled: {}", deep.join(" ")),
            fix,
        )
    }
}

fn check_smt(context: &Context<'_>) -> Check {
    let name = "smt_siblings";
    let fix = "boot with nosmt (or disable HT in BIOS), or keep the sibling isolated and idle";
    if context.pinned.is_empty() {
        return check(name, Status::Unknown, "no pinned cores", fix);
    }
    let sys = &context.input.sys_root;
    if read(sys, "devices/system/cpu/smt/control").is_some_and(|control| {
        control == "off" || control == "notsupported" || control == "forceoff"
    }) {
        return check(name, Status::Pass, "SMT off", "");
    }
    let mut shared_with_pinned = Vec::new();
    let mut shared = Vec::new();
    let mut seen = 0;
    for core in &context.pinned {
        let Some(siblings) = read(
            sys,
            &format!("devices/system/cpu/cpu{core}/topology/thread_siblings_list"),
        )
        .as_deref()
        .and_then(parse_cpulist) else {
            continue;
        };
        seen += 1;
        for sibling in siblings.iter().filter(|sibling| *sibling != core) {
            if context.pinned.contains(sibling) {
                shared_with_pinned.push(format!("{core}+{sibling}"));
            } else {
                shared.push(format!("{core}+{sibling}"));
            }
        }
    }
    if seen == 0 {
        check(
            name,
            Status::Unknown,
            "topology/thread_siblings_list not readable",
            fix,
        )
    } else if !shared_with_pinned.is_empty() {
        check(
            name,
            Status::Fail,
            format!(
                "two pinned threads share a physical core: {}",
                shared_with_pinned.join(" ")
            ),
            fix,
        )
    } else if !shared.is_empty() {
        check(
            name,
            Status::Warn,
            format!("pinned cores have SMT siblings: {}", shared.join(" ")),
            fix,
        )
    } else {
        check(name, Status::Pass, "pinned cores have no SMT siblings", "")
    }
}

fn check_nic_numa(context: &Context<'_>) -> Check {
    let name = "nic_numa";
    let Some(nic) = &context.input.nic else {
        return check(
            name,
            Status::Unknown,
            "no NIC configured",
            "set the trading NIC in the config",
        );
    };
    let sys = &context.input.sys_root;
    let fix = format!("pin gateway/sequencer to cores on the NIC's NUMA node (see /sys/class/net/{nic}/device/local_cpulist), or move the NIC");
    let Some(node) = read(sys, &format!("class/net/{nic}/device/numa_node")) else {
        return check(
            name,
            Status::Unknown,
            format!("class/net/{nic}/device/numa_node not readable"),
            fix,
        );
    };
    if node == "-1" {
        return check(name, Status::Pass, "single NUMA node (numa_node = -1)", "");
    }
    let Some(node_cpus) = read(sys, &format!("devices/system/node/node{node}/cpulist"))
        .as_deref()
        .and_then(parse_cpulist)
    else {
        return check(
            name,
            Status::Unknown,
            format!("node{node}/cpulist not readable"),
            fix,
        );
    };
    if context.pinned.is_empty() {
        return check(
            name,
            Status::Unknown,
            format!("{nic} on node {node}; no pinned cores"),
            fix,
        );
    }
    let remote: BTreeSet<usize> = context.pinned.difference(&node_cpus).copied().collect();
    if remote.is_empty() {
        check(
            name,
            Status::Pass,
            format!("{nic} and pinned cores on node {node}"),
            "",
        )
    } else {
        check(
            name,
            Status::Warn,
            format!(
                "{nic} on node {node}; pinned {} on other nodes (cross-socket hop per packet)",
                format_cpus(&remote)
            ),
            fix,
        )
    }
}

fn check_thp(context: &Context<'_>) -> Check {
    let name = "transparent_hugepages";
    let fix = "echo never > /sys/kernel/mm/transparent_hugepage/enabled (or transparent_hugepage=never on the command line)";
    let Some(enabled) = read(
        &context.input.sys_root,
        "kernel/mm/transparent_hugepage/enabled",
    ) else {
        return check(
            name,
            Status::Unknown,
            "transparent_hugepage/enabled not readable",
            fix,
        );
    };
    let selected = enabled
        .split_whitespace()
        .find(|word| word.starts_with('['))
        .map(|word| word.trim_matches(['[', ']']));
    match selected {
        Some("never" | "madvise") => check(
            name,
            Status::Pass,
            format!("THP {}", selected.unwrap_or_default()),
            "",
        ),
        Some("always") => check(
            name,
            Status::Warn,
            "THP always: khugepaged compaction stalls",
            fix,
        ),
        _ => check(
            name,
            Status::Unknown,
            format!("cannot parse '{enabled}'"),
            fix,
        ),
    }
}

fn check_swap(context: &Context<'_>) -> Check {
    let name = "swap";
    let fix = "swapoff -a and remove swap from /etc/fstab (the engine's memory is preallocated and locked)";
    let Some(swaps) = read(&context.input.proc_root, "swaps") else {
        return check(name, Status::Unknown, "/proc/swaps not readable", fix);
    };
    let devices: Vec<&str> = swaps
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    if devices.is_empty() {
        check(name, Status::Pass, "no swap", "")
    } else {
        check(
            name,
            Status::Warn,
            format!("swap active: {}", devices.join(" ")),
            fix,
        )
    }
}

fn check_clocksource(context: &Context<'_>) -> Check {
    let name = "clocksource";
    let fix = "use tsc: clocksource=tsc tsc=reliable on the command line (check dmesg for 'TSC unstable')";
    match read(
        &context.input.sys_root,
        "devices/system/clocksource/clocksource0/current_clocksource",
    ) {
        Some(source) if source == "tsc" => check(name, Status::Pass, "tsc", ""),
        Some(source) => check(
            name,
            Status::Fail,
            format!("{source}: every clock_gettime becomes a slow read (or a syscall)"),
            fix,
        ),
        None => check(
            name,
            Status::Unknown,
            "current_clocksource not readable",
            fix,
        ),
    }
}

/// IRQ numbers of the NIC: its MSI vectors from /sys plus /proc/interrupts lines naming it.
fn nic_irqs(context: &Context<'_>, nic: &str) -> BTreeSet<u32> {
    let mut irqs = BTreeSet::new();
    if let Ok(entries) = fs::read_dir(
        context
            .input
            .sys_root
            .join(format!("class/net/{nic}/device/msi_irqs")),
    ) {
        irqs.extend(
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok()),
        );
    }
    if let Some(interrupts) = read(&context.input.proc_root, "interrupts") {
        for line in interrupts.lines() {
            let mut words = line.split_whitespace();
            let Some(number) = words
                .next()
                .and_then(|word| word.strip_suffix(':'))
                .and_then(|word| word.parse::<u32>().ok())
            else {
                continue;
            };
            if words.any(|word| word == nic || word.starts_with(&format!("{nic}-"))) {
                irqs.insert(number);
            }
        }
    }
    irqs
}

fn check_irq_affinity(context: &Context<'_>) -> Check {
    let name = "nic_irq_affinity";
    let Some(nic) = &context.input.nic else {
        return check(
            name,
            Status::Unknown,
            "no NIC configured",
            "set the trading NIC in the config",
        );
    };
    let fix = format!(
        "stop irqbalance (or IRQBALANCE_BANNED_CPULIST=<pinned>), then echo <housekeeping cores> > /proc/irq/N/smp_affinity_list for each {nic} IRQ"
    );
    if context.pinned.is_empty() {
        return check(name, Status::Unknown, "no pinned cores", fix);
    }
    let irqs = nic_irqs(context, nic);
    if irqs.is_empty() {
        return check(
            name,
            Status::Unknown,
            format!("no IRQs found for {nic} in /proc/interrupts or msi_irqs"),
            fix,
        );
    }
    let mut hitting = Vec::new();
    let mut unreadable = 0;
    for irq in &irqs {
        match read(
            &context.input.proc_root,
            &format!("irq/{irq}/smp_affinity_list"),
        )
        .as_deref()
        .and_then(parse_cpulist)
        {
            Some(cpus) => {
                let overlap: BTreeSet<usize> =
                    cpus.intersection(&context.pinned).copied().collect();
                if !overlap.is_empty() {
                    hitting.push(format!("irq{irq}->{}", format_cpus(&overlap)));
                }
            }
            None => unreadable += 1,
        }
    }
    let irqbalance = process_running(&context.input.proc_root, "irqbalance");
    let irqbalance_note = if irqbalance {
        "; irqbalance running (will rewrite affinities)"
    } else {
        ""
    };
    if !hitting.is_empty() {
        hitting.truncate(8);
        check(
            name,
            Status::Fail,
            format!(
                "{nic} IRQs land on pinned cores: {}{irqbalance_note}",
                hitting.join(" ")
            ),
            fix,
        )
    } else if unreadable == irqs.len() {
        check(
            name,
            Status::Unknown,
            format!("{} {nic} IRQs, affinity not readable", irqs.len()),
            fix,
        )
    } else if irqbalance {
        check(
            name,
            Status::Warn,
            format!(
                "{} {nic} IRQs off pinned cores{irqbalance_note}",
                irqs.len()
            ),
            fix,
        )
    } else {
        check(
            name,
            Status::Pass,
            format!("{} {nic} IRQs off pinned cores", irqs.len()),
            "",
        )
    }
}

fn check_busy_poll(context: &Context<'_>) -> Check {
    let name = "busy_poll";
    let fix = "sysctl -w net.core.busy_poll=50 net.core.busy_read=50 (persist in /etc/sysctl.d/)";
    let proc_root = &context.input.proc_root;
    let poll = read(proc_root, "sys/net/core/busy_poll");
    let read_value = read(proc_root, "sys/net/core/busy_read");
    match (poll, read_value) {
        (Some(poll), Some(busy_read)) => {
            let enabled = |value: &str| value.parse::<u64>().is_ok_and(|v| v > 0);
            if enabled(&poll) && enabled(&busy_read) {
                check(
                    name,
                    Status::Pass,
                    format!("busy_poll={poll} busy_read={busy_read}"),
                    "",
                )
            } else {
                check(
                    name,
                    Status::Warn,
                    format!("busy_poll={poll} busy_read={busy_read}"),
                    fix,
                )
            }
        }
        _ => check(
            name,
            Status::Unknown,
            "net/core/busy_poll or busy_read not readable",
            fix,
        ),
    }
}

fn check_nic_link(context: &Context<'_>) -> Check {
    let name = "nic_link";
    let Some(nic) = &context.input.nic else {
        return check(
            name,
            Status::Unknown,
            "no NIC configured",
            "set the trading NIC in the config",
        );
    };
    let sys = &context.input.sys_root;
    let fix = format!(
        "ethtool {nic}: check cabling, SFP28 optics and switch port speed (25000Mb/s expected)"
    );
    let operstate = read(sys, &format!("class/net/{nic}/operstate"));
    let speed =
        read(sys, &format!("class/net/{nic}/speed")).and_then(|speed| speed.parse::<i64>().ok());
    match (operstate.as_deref(), speed) {
        (None, _) => check(
            name,
            Status::Unknown,
            format!("class/net/{nic} not found"),
            fix,
        ),
        (Some("up"), Some(speed)) if speed >= 25_000 => {
            check(name, Status::Pass, format!("up, {speed} Mb/s"), "")
        }
        (Some("up"), Some(speed)) => check(
            name,
            Status::Warn,
            format!("up, {speed} Mb/s (< 25000)"),
            fix,
        ),
        (Some(state), _) => check(
            name,
            Status::Warn,
            format!(
                "operstate {state}, speed {}",
                speed.map_or("?".to_owned(), |s| s.to_string())
            ),
            fix,
        ),
    }
}

fn check_nic_rings(context: &Context<'_>) -> Check {
    let name = "nic_rings";
    let Some(nic) = &context.input.nic else {
        return check(
            name,
            Status::Unknown,
            "no NIC configured",
            "set the trading NIC in the config",
        );
    };
    let sys = &context.input.sys_root;
    let queues = fs::read_dir(sys.join(format!("class/net/{nic}/queues"))).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("rx-"))
            .count()
    });
    let queue_note = if queues > 0 {
        format!(" ({queues} rx queues)")
    } else {
        String::new()
    };
    check(
        name,
        Status::Unknown,
        format!("ring sizes are not in /sys{queue_note}; needs the ethtool ioctl"),
        format!("ethtool -g {nic}; set rx/tx to the pre-set maximum: ethtool -G {nic} rx <max> tx <max>"),
    )
}

/// One `/proc/self/mountinfo` line, the fields the journal checks need.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mount {
    mount_point: String,
    options: String,
    fs_type: String,
    source: String,
    super_options: String,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split_whitespace().collect();
            let right: Vec<&str> = right.split_whitespace().collect();
            Some(Mount {
                mount_point: unescape_mount(left.get(4)?),
                options: (*left.get(5)?).to_owned(),
                fs_type: (*right.first()?).to_owned(),
                source: (*right.get(1)?).to_owned(),
                super_options: right.get(2).map_or(String::new(), |s| (*s).to_owned()),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mount(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The mount holding `path`: the longest mount point that is a path prefix (the last one wins on ties, as overmounts do).
fn mount_for<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for mount in mounts {
        if path.starts_with(&mount.mount_point)
            && match best {
                None => true,
                Some(current) => mount.mount_point.len() >= current.mount_point.len(),
            }
        {
            best = Some(mount);
        }
    }
    best
}

fn journal_mounts(context: &Context<'_>) -> Result<(Mount, Vec<Mount>), Check> {
    let Some(text) = read(&context.input.proc_root, "self/mountinfo") else {
        return Err(check(
            "journal_fs",
            Status::Unknown,
            "self/mountinfo not readable",
            "findmnt -T <journal_dir>",
        ));
    };
    let mounts = parse_mountinfo(&text);
    match mount_for(&mounts, &context.input.journal_dir) {
        Some(mount) => Ok((mount.clone(), mounts)),
        None => Err(check(
            "journal_fs",
            Status::Unknown,
            format!("no mount found for {}", context.input.journal_dir.display()),
            "findmnt -T <journal_dir>",
        )),
    }
}

fn check_journal_fs(context: &Context<'_>) -> Check {
    let name = "journal_fs";
    let fix = "put the journal on a local xfs or ext4 filesystem on its own NVMe (see docs/deployment.md)";
    let (mount, _) = match journal_mounts(context) {
        Ok(found) => found,
        Err(unknown) => return required(unknown),
    };
    let detail = format!(
        "{} on {} ({}, {})",
        context.input.journal_dir.display(),
        mount.mount_point,
        mount.fs_type,
        mount.source
    );
    let status = match mount.fs_type.as_str() {
        "xfs" | "ext4" => Status::Pass,
        "tmpfs" | "ramfs" | "overlay" | "nfs" | "nfs4" | "cifs" | "smb3" | "9p" | "fuse"
        | "squashfs" => Status::Fail,
        fs_type if fs_type.starts_with("fuse.") => Status::Fail,
        _ => Status::Warn,
    };
    required(check(name, status, detail, fix))
}

fn check_journal_device(context: &Context<'_>) -> Check {
    let name = "journal_device";
    let (mount, mounts) = match journal_mounts(context) {
        Ok(found) => found,
        Err(mut unknown) => {
            unknown.name = name;
            return unknown;
        }
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let options: Vec<&str> = mount.options.split(',').collect();
    if !options.contains(&"noatime") {
        problems.push("no noatime".to_owned());
        fixes.push("mount with noatime");
    }
    let device = mount.source.trim_start_matches("/dev/");
    if !device.starts_with("nvme") {
        problems.push(format!("device {} is not NVMe", mount.source));
        fixes.push("use a dedicated NVMe");
    }
    let root = mount_for(&mounts, Path::new("/"));
    if root.is_some_and(|root| root.source == mount.source && mount.mount_point != "/")
        || mount.mount_point == "/"
    {
        problems.push("shares the root filesystem's device".to_owned());
        fixes.push("give the journal its own device");
    }
    if mount
        .super_options
        .split(',')
        .any(|option| option == "discard")
    {
        problems.push("online discard (TRIM latency spikes)".to_owned());
        fixes.push("drop discard, run fstrim.timer off-hours");
    }
    let detail = format!("{} {} opts {}", mount.source, mount.fs_type, mount.options);
    if problems.is_empty() {
        check(name, Status::Pass, detail, "")
    } else {
        check(
            name,
            Status::Warn,
            format!("{detail}: {}", problems.join("; ")),
            fixes.join("; "),
        )
    }
}

fn check_memlock(context: &Context<'_>) -> Check {
    let name = "memlock";
    let fix = "LimitMEMLOCK=infinity in the systemd unit (or memlock unlimited in limits.conf), or CAP_IPC_LOCK";
    let Some(limits) = read(&context.input.proc_root, "self/limits") else {
        return check(name, Status::Unknown, "self/limits not readable", fix);
    };
    let Some(line) = limits
        .lines()
        .find(|line| line.starts_with("Max locked memory"))
    else {
        return check(name, Status::Unknown, "no 'Max locked memory' line", fix);
    };
    let values: Vec<&str> = line
        .trim_start_matches("Max locked memory")
        .split_whitespace()
        .collect();
    let soft = values.first().copied().unwrap_or("?");
    if soft == "unlimited" {
        return check(name, Status::Pass, "unlimited", "");
    }
    match soft.parse::<u64>() {
        Ok(bytes) => check(
            name,
            Status::Warn,
            format!(
                "{} MiB soft limit: mlockall fails once the engine grows past it",
                bytes / (1024 * 1024)
            ),
            fix,
        ),
        Err(_) => check(name, Status::Unknown, format!("cannot parse '{line}'"), fix),
    }
}

fn check_clock_sync(context: &Context<'_>) -> Check {
    let name = "clock_sync";
    let status = ClockSyncStatus {
        daemons: running_sync_daemons(&context.input.proc_root),
        kernel: context.input.kernel_time,
        offset_limit_us: context.input.clock_offset_limit_us,
    };
    let daemons = if status.daemons.is_empty() {
        "none".to_owned()
    } else {
        status.daemons.join(",")
    };
    let kernel = status
        .kernel
        .map_or("kernel state unknown".to_owned(), |k| {
            format!(
                "{} offset {} ns esterror {} ns maxerror {} ns",
                if k.synchronized { "synced" } else { "UNSYNC" },
                k.offset_ns,
                k.error_estimated_ns,
                k.error_max_ns
            )
        });
    let detail = format!(
        "daemons: {daemons}; {kernel}; limit {} µs",
        status.offset_limit_us
    );
    let fix = "run chronyd (or ptp4l + phc2sys against the NIC's PHC); check chronyc tracking / pmc 'GET TIME_STATUS_NP'";
    let result = match status.verdict() {
        SyncVerdict::Synchronized => check(name, Status::Pass, detail, ""),
        SyncVerdict::Unknown => check(name, Status::Unknown, detail, fix),
        SyncVerdict::NoDaemon
        | SyncVerdict::KernelUnsynchronized
        | SyncVerdict::OffsetOverLimit => check(name, Status::Fail, detail, fix),
    };
    required(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists_parse() {
        assert_eq!(
            parse_cpulist("0-3,8,10-11")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(
            parse_cpulist("managed_irq,domain,2-3")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [2, 3]
        );
        assert!(parse_cpulist("").unwrap().is_empty());
        assert!(parse_cpulist("3-1").is_none());
        assert!(parse_cpulist("x-1").is_none());
    }

    #[test]
    fn cmdline_last_value_wins() {
        assert_eq!(
            cmdline_value("a=1 isolcpus=2 b isolcpus=4-5", "isolcpus"),
            Some("4-5")
        );
        assert_eq!(cmdline_value("quiet", "isolcpus"), None);
    }

    #[test]
    fn mountinfo_longest_prefix() {
        let text = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n\
                    40 22 259:5 / /srv/arbiter/journal rw,noatime shared:9 - xfs /dev/nvme1n1 rw,attr2\n\
                    41 22 0:40 / /srv/arb\\040x rw - tmpfs tmpfs rw\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(
            mount_for(&mounts, Path::new("/srv/arbiter/journal/a"))
                .unwrap()
                .fs_type,
            "xfs"
        );
        assert_eq!(
            mount_for(&mounts, Path::new("/srv/arbiter"))
                .unwrap()
                .fs_type,
            "ext4"
        );
        assert_eq!(
            mount_for(&mounts, Path::new("/srv/arb x/j"))
                .unwrap()
                .fs_type,
            "tmpfs"
        );
    }
}
