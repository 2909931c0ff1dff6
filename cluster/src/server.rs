//! A local `nats-server` for tests and benchmarks: free loopback ports, a temporary store
//! directory, optionally TLS (a `tls { }` block in a configuration file it writes), stopped
//! by PID. Not for production (run NATS under its own supervisor there).
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::connection::NatsConnection;
use crate::error::ClusterError;

/// Whether a `nats-server` binary is on the `PATH`.
#[must_use]
pub fn nats_server_available() -> bool {
    Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// For tests: `true` when nats-server is there; otherwise prints a notice and returns
/// `false` (skip), or panics with an install hint when the `CI` variable is set.
///
/// # Panics
/// Under CI without nats-server.
#[must_use]
pub fn require_nats_server() -> bool {
    if nats_server_available() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "nats-server is not installed: apt-get install -y nats-server (.ci/run does this)"
    );
    eprintln!("NOTICE: nats-server not found; skipping a test that needs it (apt-get install -y nats-server)");
    false
}

/// A loopback port free now (for a server started later on it with
/// [`LocalNatsServer::start_on_port`]).
///
/// # Errors
/// [`ClusterError::Server`] when no port can be bound.
///
/// Never the same port twice in one process: tests run in parallel threads, and a port one
/// test was given (and its server binds seconds later) must not go to another meanwhile.
pub fn free_port() -> Result<u16, ClusterError> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..1000 {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| ClusterError::Server(format!("find a free port: {e}")))?;
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| ClusterError::Server(format!("find a free port: {e}")))?;
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    Err(ClusterError::Server(
        "find a free port: every port offered was given before".to_owned(),
    ))
}

/// Waits until JetStream at `url` answers an account-info request.
///
/// # Errors
/// [`ClusterError::Server`] when it does not within `timeout`.
pub fn wait_jetstream(url: &str, timeout: Duration) -> Result<(), ClusterError> {
    wait_jetstream_on(&NatsConnection::new(url), timeout)
}

/// Waits until JetStream answers an account-info request over `connection` (TLS if set).
///
/// # Errors
/// [`ClusterError::Server`] when it does not within `timeout`.
pub fn wait_jetstream_on(
    connection: &NatsConnection,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Server(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let deadline = Instant::now() + timeout;
        let mut last_error = String::new();
        while Instant::now() < deadline {
            match connection.jetstream().await {
                Ok(context) => match context.query_account().await {
                    Ok(_) => return Ok(()),
                    Err(e) => last_error = e.to_string(),
                },
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(ClusterError::Server(format!(
            "JetStream at {} not ready: {last_error}",
            connection.describe()
        )))
    })
}

/// TLS for a [`LocalNatsServer`] (PEM files).
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The server's certificate chain (its names must include the host clients dial).
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// CA for client certificates: set, every client must present one (`verify: true`).
    pub client_ca: Option<PathBuf>,
}

/// One running nats-server process with JetStream; killed (by its PID) on drop.
#[derive(Debug)]
pub struct LocalNatsServer {
    child: Child,
    port: u16,
    store_dir: PathBuf,
    /// The configuration file holding the `tls { }` block, when TLS is on.
    tls_config: Option<PathBuf>,
    /// Further command-line arguments (a cluster node's name and routes), kept for a restart.
    args: Vec<String>,
}

impl LocalNatsServer {
    /// Starts a single server with JetStream on a free loopback port, storing in
    /// `store_dir`, and waits until it accepts connections.
    ///
    /// # Errors
    /// [`ClusterError::Server`] when it cannot start or does not come up within 10 s.
    pub fn start(store_dir: &Path) -> Result<LocalNatsServer, ClusterError> {
        let port = free_port()?;
        Self::spawn(store_dir, port, &[], None)
    }

    /// As [`Self::start`], on a chosen loopback port: a client configured with the URL before
    /// the server existed (a standby started while NATS is down) finds it there.
    ///
    /// # Errors
    /// As [`Self::start`] (also when the port is taken).
    pub fn start_on_port(store_dir: &Path, port: u16) -> Result<LocalNatsServer, ClusterError> {
        Self::spawn(store_dir, port, &[], None)
    }

    /// As [`Self::start`], with TLS required from every client: writes
    /// `store_dir/tls.conf` (a `tls { }` block; `verify: true` with a client CA) and starts
    /// the server with it. [`Self::url`] is then a `tls://` URL.
    ///
    /// # Errors
    /// As [`Self::start`], and when the configuration file cannot be written.
    pub fn start_tls(store_dir: &Path, tls: &ServerTls) -> Result<LocalNatsServer, ClusterError> {
        let port = free_port()?;
        let mut block = format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  timeout: 5\n",
            tls.cert.display().to_string(),
            tls.key.display().to_string()
        );
        if let Some(ca) = &tls.client_ca {
            block.push_str(&format!(
                "  ca_file: {:?}\n  verify: true\n",
                ca.display().to_string()
            ));
        }
        block.push_str("}\n");
        std::fs::create_dir_all(store_dir)
            .map_err(|e| ClusterError::Server(format!("create {}: {e}", store_dir.display())))?;
        let file = store_dir.join("tls.conf");
        std::fs::write(&file, block)
            .map_err(|e| ClusterError::Server(format!("write {}: {e}", file.display())))?;
        Self::spawn(store_dir, port, &[], Some(file))
    }

    /// Starts a cluster of `nodes` servers (JetStream, routes on loopback) under
    /// `store_root/n{i}`; returns them once all accept connections.
    ///
    /// # Errors
    /// As [`LocalNatsServer::start`].
    pub fn start_cluster(
        store_root: &Path,
        nodes: usize,
    ) -> Result<Vec<LocalNatsServer>, ClusterError> {
        let ports: Vec<(u16, u16)> = (0..nodes)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<_, ClusterError>>()?;
        let routes = ports
            .iter()
            .map(|(_, cluster)| format!("nats://127.0.0.1:{cluster}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Vec::new();
        for (i, (client, cluster)) in ports.iter().enumerate() {
            let dir = store_root.join(format!("n{i}"));
            std::fs::create_dir_all(&dir)
                .map_err(|e| ClusterError::Server(format!("create {}: {e}", dir.display())))?;
            let name = format!("n{i}");
            let cluster_listen = format!("nats://127.0.0.1:{cluster}");
            let args = [
                "--server_name",
                name.as_str(),
                "--cluster_name",
                "arbiter-test",
                "--cluster",
                cluster_listen.as_str(),
                "--routes",
                routes.as_str(),
            ];
            servers.push(Self::spawn_no_wait(&dir, *client, &args, None)?);
        }
        for server in &servers {
            server.wait_ready()?;
        }
        // A JetStream cluster answers only once its meta group has elected a leader.
        for server in &servers {
            wait_jetstream(&server.url(), Duration::from_secs(30))?;
        }
        Ok(servers)
    }

    fn spawn(
        store_dir: &Path,
        port: u16,
        extra: &[&str],
        tls_config: Option<PathBuf>,
    ) -> Result<LocalNatsServer, ClusterError> {
        let server = Self::spawn_no_wait(store_dir, port, extra, tls_config)?;
        server.wait_ready()?;
        Ok(server)
    }

    fn spawn_no_wait(
        store_dir: &Path,
        port: u16,
        extra: &[&str],
        tls_config: Option<PathBuf>,
    ) -> Result<LocalNatsServer, ClusterError> {
        let mut command = Command::new("nats-server");
        if let Some(file) = &tls_config {
            // Flags below override the file; it only adds the `tls { }` block.
            command.arg("-c").arg(file);
        }
        let child = command
            .arg("-js")
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string())
            .arg("-sd")
            .arg(store_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ClusterError::Server(format!("spawn nats-server: {e}")))?;
        Ok(LocalNatsServer {
            child,
            port,
            store_dir: store_dir.to_path_buf(),
            tls_config,
            args: extra.iter().map(|&arg| arg.to_owned()).collect(),
        })
    }

    fn wait_ready(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(ClusterError::Server(format!(
            "nats-server on port {} did not come up",
            self.port
        )))
    }

    /// Stops this server (if running) and starts it again on the same port, store directory
    /// and arguments (a cluster node rejoins its cluster), for tests of a NATS outage; waits
    /// until it accepts connections (a cluster node's JetStream may need longer: see
    /// [`wait_jetstream`]).
    ///
    /// # Errors
    /// As [`LocalNatsServer::start`].
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let next = Self::spawn(&self.store_dir, self.port, &args, self.tls_config.clone())?;
        // Take the new child; the old value's Drop must not kill it.
        let old = std::mem::replace(self, next);
        std::mem::forget(old);
        Ok(())
    }

    /// Stops the server (by its PID) and keeps its store directory; [`Self::restart`] brings
    /// it back.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Client URL (`tls://` when started with TLS).
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.tls_config.is_some() {
            "tls"
        } else {
            "nats"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Client port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store directory.
    #[must_use]
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The server's PID.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalNatsServer {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
