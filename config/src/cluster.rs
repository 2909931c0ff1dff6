//! The `[cluster]` section: journal replication to NATS JetStream, the leader lease, and
//! this node's role (see docs/cluster.md).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// What this node does at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterRole {
    /// Take the lease (refuse to start if another node holds it), serve FIX, replicate.
    Leader,
    /// Follow the shard's stream, refuse FIX logons, take over when the lease lapses.
    Standby,
}

/// When NATS is unreachable or too slow to acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicationLoss {
    /// Stop accepting new orders (cancels still flow) until replication has caught up.
    Halt,
    /// Keep trading on local durability, raise the alarm, catch up later.
    Continue,
}

/// Which acknowledgement releases a command's reports to the FIX client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterDurability {
    /// The local policy (`journal.durability`) only.
    Local,
    /// The local policy and JetStream's acknowledgement of the batch holding the command.
    Replicated,
}

/// Journal replication and failover.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// NATS server URLs (any of them; the client fails over between them).
    pub nats_urls: Vec<String>,
    /// Shard name: letters, digits, `-`, `_` (part of the stream name `ARBITER_<shard>`).
    pub shard: String,
    /// This node's id, unique per shard (the lease names it).
    pub node_id: String,
    /// Replicas of the stream and of the lease bucket (3 in production, 1 on a laptop).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// The lease lapses when not renewed for this long.
    #[serde(default = "default_lease_ttl_ms")]
    pub lease_ttl_ms: u64,
    /// The leader renews its lease this often (must be shorter than `lease_ttl_ms`).
    #[serde(default = "default_lease_renew_ms")]
    pub lease_renew_ms: u64,
    /// Most journal bytes per replicated batch message.
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// Behaviour when NATS is unreachable or slow.
    #[serde(default = "default_loss")]
    pub on_replication_loss: ReplicationLoss,
    /// What releases reports (see [`ClusterDurability`]).
    #[serde(default = "default_durability")]
    pub durability: ClusterDurability,
    /// Role at start-up (`arbiter run --standby` forces `standby`).
    #[serde(default = "default_role")]
    pub role: ClusterRole,
    /// Name of the key-value bucket holding the leases.
    #[serde(default = "default_lease_bucket")]
    pub lease_bucket: String,
    /// TLS to the NATS servers: set, every connection must be TLS.
    #[serde(default)]
    pub tls: Option<ClusterTlsSection>,
    /// Connect in plaintext to a `nats://` URL whose host is not loopback (NATS on a
    /// private line or behind its own tunnel). Off: such a URL without `[cluster.tls]` is
    /// refused.
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// `[cluster.tls]`: TLS (1.3 with nats-server 2.9 and later) to the NATS servers. PEM
/// files; relative paths are relative to the working directory, like `venue.data_dir`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTlsSection {
    /// CA certificates that signed the NATS servers' certificates (only these are
    /// trusted). None: the system's root certificates.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Client certificate chain, for servers that verify clients (`verify: true`).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

fn default_replicas() -> usize {
    3
}
fn default_lease_ttl_ms() -> u64 {
    3_000
}
fn default_lease_renew_ms() -> u64 {
    1_000
}
fn default_batch_bytes() -> usize {
    64 * 1024
}
fn default_loss() -> ReplicationLoss {
    ReplicationLoss::Halt
}
fn default_durability() -> ClusterDurability {
    ClusterDurability::Replicated
}
fn default_role() -> ClusterRole {
    ClusterRole::Leader
}
fn default_lease_bucket() -> String {
    "arbiter_leases".to_owned()
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a URL's host is a loopback address (`127.x`, `::1`, `localhost`).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    // Credentials (`user:pass@`) precede the host.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split_once(']').map_or(bracketed, |(h, _)| h)
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The largest batch: the server's default `max_payload` is 1 MiB, and a header rides along.
const BATCH_BYTES_MAX: usize = 1024 * 1024 - 4096;

impl ClusterSection {
    /// Every problem, each naming its key path (`cluster.…`).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.nats_urls.is_empty() {
            out.push("cluster.nats_urls: at least one URL is needed".to_owned());
        }
        for (i, url) in self.nats_urls.iter().enumerate() {
            let scheme_ok = ["nats://", "tls://"].iter().any(|s| url.starts_with(s));
            if !scheme_ok
                || url
                    .split_once("://")
                    .is_none_or(|(_, rest)| rest.is_empty())
            {
                out.push(format!(
                    "cluster.nats_urls[{i}]: {url:?} is not a URL like \"nats://host:4222\""
                ));
            } else if url.starts_with("nats://")
                && self.tls.is_none()
                && !self.allow_plaintext
                && !is_loopback_url(url)
            {
                out.push(format!(
                    "cluster.nats_urls[{i}]: {url:?} is not a loopback address and has no TLS: \
                     configure [cluster.tls] (ca) or a tls:// URL, or set \
                     cluster.allow_plaintext = true"
                ));
            }
        }
        if let Some(tls) = &self.tls {
            match (&tls.cert, &tls.key) {
                (Some(_), None) => out
                    .push("cluster.tls.key: needed with cluster.tls.cert (mutual TLS)".to_owned()),
                (None, Some(_)) => out
                    .push("cluster.tls.cert: needed with cluster.tls.key (mutual TLS)".to_owned()),
                _ => {}
            }
        }
        if !is_name(&self.shard) {
            out.push(format!(
                "cluster.shard: {:?} must be letters, digits, '-' or '_'",
                self.shard
            ));
        }
        if !is_name(&self.node_id) {
            out.push(format!(
                "cluster.node_id: {:?} must be letters, digits, '-' or '_'",
                self.node_id
            ));
        }
        if !is_name(&self.lease_bucket) {
            out.push(format!(
                "cluster.lease_bucket: {:?} must be letters, digits, '-' or '_'",
                self.lease_bucket
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            out.push(format!(
                "cluster.replicas: {} must be 1 to 5 (3 in production)",
                self.replicas
            ));
        }
        if self.lease_renew_ms == 0 {
            out.push("cluster.lease_renew_ms: must be at least 1".to_owned());
        }
        if self.lease_ttl_ms <= self.lease_renew_ms {
            out.push(format!(
                "cluster.lease_ttl_ms: {} must be longer than cluster.lease_renew_ms ({})",
                self.lease_ttl_ms, self.lease_renew_ms
            ));
        }
        if self.lease_ttl_ms < 1_000 {
            out.push(format!(
                "cluster.lease_ttl_ms: {} must be at least 1000 (the server expires entries about once a second)",
                self.lease_ttl_ms
            ));
        }
        if self.batch_bytes < 1024 || self.batch_bytes > BATCH_BYTES_MAX {
            out.push(format!(
                "cluster.batch_bytes: {} must be 1024 to {BATCH_BYTES_MAX}",
                self.batch_bytes
            ));
        }
        out
    }

    /// The NATS URLs as one comma-separated string (what the client accepts).
    #[must_use]
    pub fn url(&self) -> String {
        self.nats_urls.join(",")
    }
}

#[cfg(test)]
mod tests {
    use crate::{ClusterDurability, ClusterRole, Config, ReplicationLoss, DEFAULT_CONFIG};

    fn with_cluster(section: &str) -> Result<Config, Vec<String>> {
        Config::parse(&format!("{DEFAULT_CONFIG}\n[cluster]\n{section}"))
    }

    #[test]
    fn a_full_section_parses_with_its_defaults() {
        let config = with_cluster(
            "nats_urls = [\"nats://127.0.0.1:4222\"]\nshard = \"A\"\nnode_id = \"n1\"\n",
        )
        .unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.role, ClusterRole::Leader);
        assert_eq!(cluster.on_replication_loss, ReplicationLoss::Halt);
        assert_eq!(cluster.durability, ClusterDurability::Replicated);
        assert_eq!(cluster.replicas, 3);
        assert!(cluster.lease_ttl_ms > cluster.lease_renew_ms);
        let standby = with_cluster(
            "nats_urls = [\"nats://a:4222\", \"nats://b:4222\"]\nshard = \"A\"\nnode_id = \"n2\"\n\
             role = \"standby\"\non_replication_loss = \"continue\"\nreplicas = 1\nallow_plaintext = true\n",
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(standby.role, ClusterRole::Standby);
        assert_eq!(standby.url(), "nats://a:4222,nats://b:4222");
    }

    #[test]
    fn bad_values_name_their_keys() {
        let problems = with_cluster(
            "nats_urls = [\"localhost\"]\nshard = \"a.b\"\nnode_id = \"\"\nreplicas = 0\n\
             lease_ttl_ms = 1000\nlease_renew_ms = 2000\nbatch_bytes = 10\n",
        )
        .unwrap_err();
        for key in [
            "cluster.nats_urls[0]",
            "cluster.shard",
            "cluster.node_id",
            "cluster.replicas",
            "cluster.lease_ttl_ms: 1000 must be longer than cluster.lease_renew_ms (2000)",
            "cluster.batch_bytes",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{key} not named in {problems:?}"
            );
        }
        let half = with_cluster(
            "nats_urls = [\"tls://a:1\"]\nshard = \"A\"\nnode_id = \"n\"\n[cluster.tls]\ncert = \"c.pem\"\n",
        )
        .unwrap_err();
        assert!(
            half.iter()
                .any(|p| p.starts_with("cluster.tls.key: needed")),
            "{half:?}"
        );
        let unknown = with_cluster(
            "nats_urls = [\"nats://a:1\"]\nshard = \"A\"\nnode_id = \"n\"\nrole = \"boss\"\n",
        )
        .unwrap_err();
        assert!(unknown[0].contains("role"), "{unknown:?}");
    }

    #[test]
    fn a_plaintext_non_loopback_nats_url_is_refused_unless_tls_or_allowed() {
        let base = "shard = \"A\"\nnode_id = \"n1\"\n";
        let problems = with_cluster(&format!(
            "nats_urls = [\"nats://127.0.0.1:4222\", \"nats://10.0.0.7:4222\"]\n{base}"
        ))
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "cluster.nats_urls[1]: \"nats://10.0.0.7:4222\" is not a loopback address and has \
                 no TLS: configure [cluster.tls] (ca) or a tls:// URL, or set \
                 cluster.allow_plaintext = true"
                    .to_owned()
            ]
        );
        for accepted in [
            "nats_urls = [\"nats://10.0.0.7:4222\"]\nallow_plaintext = true\n",
            "nats_urls = [\"tls://nats.example:4222\"]\n",
            "nats_urls = [\"nats://localhost:4222\", \"nats://u:p@[::1]:4222\"]\n",
        ] {
            assert!(
                with_cluster(&format!("{accepted}{base}")).is_ok(),
                "{accepted}"
            );
        }
        let tls = with_cluster(&format!(
            "nats_urls = [\"nats://nats-1.venue:4222\"]\n{base}[cluster.tls]\nca = \"nats-ca.pem\"\n\
             cert = \"node.pem\"\nkey = \"node.key\"\n"
        ))
        .unwrap()
        .cluster
        .unwrap();
        let section = tls.tls.unwrap();
        assert_eq!(section.ca.unwrap(), std::path::Path::new("nats-ca.pem"));
        assert!(section.cert.is_some() && section.key.is_some());
        assert!(!tls.allow_plaintext);
    }
}
