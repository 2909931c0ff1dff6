//! Start-up wiring of the FIX network edge (rate, backoff, TLS) and of TLS on `/metrics`
//! from the configuration, and `arbiter config hash-password`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use arbiter_config::{Config, TlsSection};
use arbiter_fix::tls::{certificate_days_left, server_config, TlsSettings};
use arbiter_fix::EdgePolicy;

/// Source-address limits and the failed-logon backoff.
pub fn edge_policy(config: &Config) -> EdgePolicy {
    EdgePolicy {
        connections_per_source_per_second_max: config.fix.max_connections_per_source_per_second,
        logon_failures_before_backoff: config.fix.logon_failures_before_backoff,
        logon_backoff_base_ns: config.fix.logon_backoff_base_ms * 1_000_000,
        logon_backoff_max_ns: config.fix.logon_backoff_max_ms * 1_000_000,
        ..EdgePolicy::default()
    }
}

/// The listener's TLS configuration, if any; logs the days until each certificate expires.
///
/// # Errors
/// A certificate or key file cannot be read or used.
pub fn tls_server_config(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let Some(tls) = &config.fix.tls else {
        if config.fix.allow_plaintext {
            eprintln!(
                "arbiter: fix edge: plaintext FIX on {} (allow_plaintext = true)",
                config.fix.listen
            );
        }
        return Ok(None);
    };
    let server = server_config(&tls_settings(tls)).map_err(|e| format!("FIX TLS: {e}"))?;
    let now_s = i64::try_from(arbiter_fix::system_clock_ns() / 1_000_000_000).unwrap_or(0);
    let mut files = vec![&tls.cert];
    files.extend(tls.client_ca.as_ref());
    for path in files {
        for (subject, days) in certificate_days_left(path, now_s).map_err(|e| e.to_string())? {
            let warning = if days < 30 {
                " WARNING: renew soon"
            } else {
                ""
            };
            eprintln!(
                "arbiter: fix edge: certificate {subject:?} in {} expires in {days} days{warning}",
                path.display()
            );
        }
    }
    eprintln!(
        "arbiter: fix edge: TLS 1.3 only on {}{}",
        config.fix.listen,
        if tls.client_ca.is_some() {
            "; client certificates required"
        } else {
            ""
        }
    );
    Ok(Some(server))
}

fn tls_settings(tls: &TlsSection) -> TlsSettings {
    TlsSettings {
        cert_pem: tls.cert.clone(),
        key_pem: tls.key.clone(),
        client_ca_pem: tls.client_ca.clone(),
    }
}

/// What `/metrics` serves with: TLS 1.3 when `[metrics.tls]` is set (the FIX listener's
/// rustls configuration code), and every configured certificate file (FIX and metrics
/// server chains and client CAs, the NATS CA and client certificate) for the
/// `arbiter_certificate_expiry_days` gauge.
///
/// # Errors
/// A certificate or key file of `[metrics.tls]` cannot be read or used.
pub fn metrics_options(config: &Config) -> Result<arbiter_perf::MetricsOptions, String> {
    let tls = match &config.metrics.tls {
        Some(tls) => {
            Some(server_config(&tls_settings(tls)).map_err(|e| format!("metrics TLS: {e}"))?)
        }
        None => None,
    };
    let mut certificates = Vec::new();
    for section in [&config.fix.tls, &config.metrics.tls].into_iter().flatten() {
        for path in std::iter::once(&section.cert).chain(section.client_ca.as_ref()) {
            if !certificates.contains(path) {
                certificates.push(path.clone());
            }
        }
    }
    // The NATS connection's CA and client certificate (`[cluster.tls]`).
    if let Some(tls) = config.cluster.as_ref().and_then(|c| c.tls.as_ref()) {
        for path in tls.ca.iter().chain(tls.cert.iter()) {
            if !certificates.contains(path) {
                certificates.push(path.clone());
            }
        }
    }
    Ok(arbiter_perf::MetricsOptions { tls, certificates })
}

/// Reads one line from the terminal with echo off (or from stdin when it is not a
/// terminal, so scripts and tests can pipe it), without the line ending.
fn read_secret(prompt: &str) -> std::io::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut saved: Option<libc::termios> = None;
    if terminal {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        // SAFETY: termios is plain data; tcgetattr fills it for fd 0, which is a terminal.
        unsafe {
            let mut attributes: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut attributes) == 0 {
                saved = Some(attributes);
                attributes.c_lflag &= !libc::ECHO;
                attributes.c_lflag |= libc::ECHONL;
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &attributes);
            }
        }
    }
    let mut line = String::new();
    let result = stdin.lock().read_line(&mut line);
    if let Some(attributes) = saved {
        // SAFETY: restores the attributes read above.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &attributes);
        }
    }
    result?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
    line.replace_range(.., &"\0".repeat(line.len()));
    Ok(trimmed)
}

/// `arbiter config hash-password`: prints the argon2id PHC string of a password read
/// without echo, for `password_hash` in the configuration.
///
/// # Errors
/// A message for the operator.
pub fn hash_password_command() -> Result<String, String> {
    let password = read_secret("password: ").map_err(|e| format!("reading password: {e}"))?;
    if std::io::stdin().is_terminal() {
        let again = read_secret("again: ").map_err(|e| format!("reading password: {e}"))?;
        if again != password {
            return Err("the two passwords differ".to_owned());
        }
    }
    arbiter_fix::credential::hash_password(password.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use arbiter_config::{Config, DEFAULT_CONFIG};

    #[test]
    fn the_expiry_gauge_covers_the_nats_ca_and_client_certificate() {
        let config = Config::parse(&format!(
            "{DEFAULT_CONFIG}\n[cluster]\nnats_urls = [\"tls://nats-1.venue:4222\"]\nshard = \"A\"\n\
             node_id = \"n1\"\n[cluster.tls]\nca = \"nats-ca.pem\"\ncert = \"node.pem\"\n\
             key = \"node.key\"\n"
        ))
        .unwrap();
        let options = super::metrics_options(&config).unwrap();
        assert_eq!(
            options.certificates,
            vec![PathBuf::from("nats-ca.pem"), PathBuf::from("node.pem")]
        );
    }
}
