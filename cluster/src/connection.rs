//! How this node reaches NATS: the server URLs and, when configured, TLS. The one place
//! that builds async-nats [`ConnectOptions`]: the replicator, the follower, the lease keeper
//! and `arbiter cluster status` all connect through a [`NatsConnection`].
//!
//! TLS is rustls as async-nats ships it, built without the `tls12` feature: the handshake
//! is TLS 1.3 (nats-server 2.9 and later offer it), with the `ring` provider.
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::{jetstream, Client, ConnectOptions};

use crate::error::ClusterError;

/// TLS to the NATS servers (PEM files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// CA certificates that signed the servers' certificates; only these are trusted.
    /// `None`: the system's root certificates.
    pub ca: Option<PathBuf>,
    /// Client certificate and its private key, for servers that verify clients (mutual
    /// TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Where and how to connect: passed wherever a NATS URL used to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsConnection {
    /// Server URLs, comma-separated (`nats://host:4222`, or `tls://host:4222` to require
    /// TLS from that server).
    pub url: String,
    /// TLS settings; set, TLS is required from every server.
    pub tls: Option<NatsTls>,
    /// How long one connection attempt may take (`None`: async-nats's default).
    pub connect_timeout: Option<Duration>,
}

impl NatsConnection {
    /// Plaintext unless the URL says `tls://` or the server requires TLS.
    #[must_use]
    pub fn new(url: impl Into<String>) -> NatsConnection {
        NatsConnection {
            url: url.into(),
            tls: None,
            connect_timeout: None,
        }
    }

    /// With TLS required (see [`NatsTls`]).
    #[must_use]
    pub fn with_tls(mut self, tls: NatsTls) -> NatsConnection {
        self.tls = Some(tls);
        self
    }

    /// With a bound on each connection attempt.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> NatsConnection {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Whether every connection must be TLS (configured TLS, or any `tls://` URL).
    #[must_use]
    pub fn requires_tls(&self) -> bool {
        self.tls.is_some()
            || self
                .url
                .split(',')
                .any(|u| u.trim_start().starts_with("tls://"))
    }

    /// The async-nats options for this connection.
    ///
    /// # Errors
    /// [`ClusterError::Config`] when a configured CA, certificate or key file cannot be
    /// read or holds no PEM object (named with its path, before any connection attempt).
    pub fn options(&self) -> Result<ConnectOptions, ClusterError> {
        let mut options = ConnectOptions::new();
        if let Some(timeout) = self.connect_timeout {
            options = options.connection_timeout(timeout);
        }
        if let Some(tls) = &self.tls {
            options = options.require_tls(true);
            if let Some(ca) = &tls.ca {
                check_pem(ca, "CA")?;
                options = options.add_root_certificates(ca.clone());
            }
            if let Some((cert, key)) = &tls.client_cert {
                check_pem(cert, "client certificate")?;
                check_pem(key, "client key")?;
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
        }
        Ok(options)
    }

    /// Connects (one attempt over the listed servers).
    ///
    /// # Errors
    /// [`ClusterError::Config`] from [`Self::options`]; [`ClusterError::Nats`] naming the
    /// URL and, with TLS, the CA the servers' certificates were checked against.
    pub async fn connect(&self) -> Result<Client, ClusterError> {
        // async-nats parses a `str` as one address: a comma-separated list goes as a list.
        let servers: Vec<&str> = self
            .url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        self.options()?
            .connect(servers.as_slice())
            .await
            .map_err(|e| ClusterError::Nats(format!("connect to {}: {e}", self.describe())))
    }

    /// Connects and opens a JetStream context.
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn jetstream(&self) -> Result<jetstream::Context, ClusterError> {
        Ok(jetstream::new(self.connect().await?))
    }

    /// The URL and the TLS in force, for error messages (no secrets: paths only).
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.tls {
            None if self.requires_tls() => format!("{} (TLS, system roots)", self.url),
            None => self.url.clone(),
            Some(tls) => {
                let mut text = format!("{} (TLS", self.url);
                match &tls.ca {
                    Some(ca) => text.push_str(&format!(", CA {}", ca.display())),
                    None => text.push_str(", system roots"),
                }
                if let Some((cert, _)) = &tls.client_cert {
                    text.push_str(&format!(", client certificate {}", cert.display()));
                }
                text.push(')');
                text
            }
        }
    }
}

impl From<String> for NatsConnection {
    fn from(url: String) -> NatsConnection {
        NatsConnection::new(url)
    }
}

impl From<&str> for NatsConnection {
    fn from(url: &str) -> NatsConnection {
        NatsConnection::new(url)
    }
}

impl From<&String> for NatsConnection {
    fn from(url: &String) -> NatsConnection {
        NatsConnection::new(url.as_str())
    }
}

/// A readable file holding at least one PEM object (async-nats would otherwise fail
/// later, with an error that does not name the file).
fn check_pem(path: &Path, what: &str) -> Result<(), ClusterError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClusterError::Config(format!("NATS TLS {what} {}: {e}", path.display())))?;
    if !text.contains("-----BEGIN ") {
        return Err(ClusterError::Config(format!(
            "NATS TLS {what} {}: no PEM object in the file",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{NatsConnection, NatsTls};

    #[test]
    fn tls_is_required_by_a_tls_url_or_a_tls_section() {
        assert!(!NatsConnection::new("nats://a:4222,nats://b:4222").requires_tls());
        assert!(NatsConnection::new("nats://a:4222, tls://b:4222").requires_tls());
        assert!(NatsConnection::new("nats://a:4222")
            .with_tls(NatsTls::default())
            .requires_tls());
    }

    #[test]
    fn an_unreadable_ca_is_named_before_connecting() {
        let connection = NatsConnection::new("nats://127.0.0.1:1").with_tls(NatsTls {
            ca: Some("/nonexistent/ca.pem".into()),
            client_cert: None,
        });
        let error = connection.options().unwrap_err().to_string();
        assert!(error.contains("CA /nonexistent/ca.pem"), "{error}");
        assert!(connection.describe().contains("CA /nonexistent/ca.pem"));
    }
}
