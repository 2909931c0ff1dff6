//! The FIX network edge and credentials through the real binary and real TCP: argon2id
//! passwords (never in clear anywhere), allowed source ranges, connection and logon floods,
//! failed-logon backoff, TLS 1.3 only, and mutual TLS mapping a certificate to a session.
//!
//! Timing: nothing here measures elapsed time. Backoffs are seconds long so that the next
//! attempt falls inside them, and the assertions read the refusal reasons the daemon logs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{utc_now, write_config, Client, Daemon};

fn arbiter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_arbiter"))
}

/// `arbiter config hash-password` with the password piped on stdin.
fn hash_password(password: &str) -> String {
    let mut child = arbiter()
        .args(["config", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let phc = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(!phc.contains(password));
    phc
}

/// The demo configuration for `dir` with textual edits applied (each must match once).
fn config_with(dir: &Path, edits: &[(&str, String)]) -> PathBuf {
    let path = write_config(dir, "sync");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "{from:?}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Adds settings to the session whose client is `comp_id`.
fn session_edit(comp_id: &str, lines: &str) -> (&'static str, String) {
    let from: &'static str =
        Box::leak(format!("target_comp_id = \"{comp_id}\"\n").into_boxed_str());
    (from, format!("{from}{lines}\n"))
}

/// Adds settings to `[fix]`.
fn fix_edit(lines: &str) -> (&'static str, String) {
    (
        "max_connections = 64\n",
        format!("max_connections = 64\n{lines}\n"),
    )
}

/// A TCP connection to the daemon from a chosen loopback source address (Linux routes all
/// of 127.0.0.0/8 to lo).
fn connect_from(source: [u8; 4], port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    let address = |ip: [u8; 4], port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    };
    let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns until it is wrapped.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket");
        let local = address(source, 0);
        let rc = libc::bind(fd, std::ptr::addr_of!(local).cast(), length);
        assert_eq!(
            rc,
            0,
            "bind {source:?}: {}",
            std::io::Error::last_os_error()
        );
        let remote = address([127, 0, 0, 1], port);
        let rc = libc::connect(fd, std::ptr::addr_of!(remote).cast(), length);
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

fn client_from(source: [u8; 4], port: u16, comp_id: &str) -> Client {
    Client::from_stream(connect_from(source, port), comp_id, "FIX.4.4")
}

/// Waits for a daemon log line containing `needle`; returns it.
fn wait_log(daemon: &Daemon, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = daemon
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

fn logon_fields(password: &str) -> Vec<(u32, &str)> {
    vec![(98, "0"), (108, "30"), (554, password)]
}

fn shutdown(daemon: Daemon) {
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (status, _) = daemon.wait();
    assert!(status.success());
}

#[test]
fn clear_text_password_is_refused_by_check_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        &[session_edit("CLIENT2", "password = \"Plain-Hunter-2\"")],
    );
    let expected = "fix.sessions[1].password: clear-text passwords are refused; store \
                    `password_hash` from `arbiter config hash-password`";
    let check = arbiter()
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    let run = arbiter()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    for out in [check, run] {
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("Plain-Hunter-2"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Plain-Hunter-2"));
    }
    assert!(
        !dir.path().join("data").exists(),
        "refused before creating anything"
    );
}

/// Every file below `dir` (recursively) and the given captures, searched for `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
    found
}

/// A daemon whose stdout and stderr go to files in `dir` (so they can be searched) and whose
/// stderr is also followed for the listening line. The caller waits for it
/// (`stop_capturing`); on a start-up panic the test is failing anyway.
#[allow(clippy::zombie_processes)]
fn start_capturing(config: &Path, dir: &Path, run: u32) -> (Child, u16) {
    let stdout = std::fs::File::create(dir.join(format!("stdout-{run}.txt"))).unwrap();
    let stderr_path = dir.join(format!("stderr-{run}.txt"));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let child = arbiter()
        .args(["run", "--config"])
        .arg(config)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&stderr_path).unwrap();
        if let Some(line) = text
            .lines()
            .find(|l| l.starts_with("arbiter: listening for FIX on "))
        {
            let address = line["arbiter: listening for FIX on ".len()..]
                .split(';')
                .next()
                .unwrap();
            let port = address.rsplit(':').next().unwrap().parse().unwrap();
            return (child, port);
        }
        assert!(Instant::now() < deadline, "daemon did not start: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop_capturing(mut child: Child, config: &Path) {
    let out = arbiter()
        .env("ARBITER_OPERATOR", "sre")
        .env("ARBITER_SECRET", "sre-demo")
        .args(["admin", "--config"])
        .arg(config)
        .arg("shutdown")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok"));
    assert!(child.wait().unwrap().success());
}

#[test]
fn passwords_never_reach_logs_stores_or_the_journal() {
    const FIRST: &str = "Sup3r-Secret-Pw-7731";
    const SECOND: &str = "N3w-Secret-Pw-9482";
    const WRONG: &str = "Wr0ng-Secret-Pw-1111";
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        &[
            session_edit(
                "CLIENT1",
                &format!("password_hash = {:?}", hash_password(FIRST)),
            ),
            session_edit(
                "CLIENT2",
                &format!("password_hash = {:?}", hash_password(FIRST)),
            ),
        ],
    );

    let (daemon, port) = start_capturing(&config, dir.path(), 1);
    // Logon changing the password (NewPassword 925), then trade.
    let mut client = Client::connect(port, "CLIENT1", "FIX.4.4");
    let mut fields = logon_fields(FIRST);
    fields.push((925, SECOND));
    client.send("A", &fields);
    client.expect(|m| m.msg_type() == "A", "Logon");
    client.new_order("pw-1", "AAPL", "1", "10", "100.00");
    client.exec_report("pw-1", "0");
    // A wrong password elsewhere: Logout with a reason that does not echo it.
    let mut intruder = Client::connect(port, "CLIENT2", "FIX.4.4");
    intruder.send("A", &logon_fields(WRONG));
    let (closed, received) = intruder.wait_closed();
    assert!(closed);
    let logout = received.iter().find(|m| m.msg_type() == "5").unwrap();
    assert_eq!(logout.get(58), Some("Invalid username or password"));
    client.send("5", &[]);
    client.expect(|m| m.msg_type() == "5", "Logout");
    stop_capturing(daemon, &config);

    // After a restart the new password holds and the old one no longer does.
    let (daemon, port) = start_capturing(&config, dir.path(), 2);
    let mut old = Client::connect(port, "CLIENT1", "FIX.4.4");
    old.seq = 4; // Logon, order, Logout went before
    old.send("A", &logon_fields(FIRST));
    assert!(old.wait_closed().0);
    let mut client = Client::connect(port, "CLIENT1", "FIX.4.4");
    client.seq = 4;
    client.send("A", &logon_fields(SECOND));
    client.expect(|m| m.msg_type() == "A", "Logon with the new password");
    client.send("5", &[]);
    client.expect(|m| m.msg_type() == "5", "Logout");
    stop_capturing(daemon, &config);

    let stderr = std::fs::read_to_string(dir.path().join("stderr-1.txt")).unwrap();
    assert!(
        stderr.contains("arbiter: fix edge: credential changed for CLIENT1"),
        "{stderr}"
    );
    assert!(stderr.contains("AuthenticationFailed"), "{stderr}");
    let stored = std::fs::read_dir(dir.path().join("data/fix-store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "credential"))
        .expect("the new hash is kept in the session store");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&stored).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    for secret in [FIRST, SECOND, WRONG] {
        let found = files_containing(dir.path(), secret.as_bytes());
        assert!(found.is_empty(), "{secret} found in {found:?}");
    }
}

#[test]
fn logon_from_a_source_outside_the_allowed_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        &[session_edit(
            "CLIENT1",
            "allowed_sources = [\"127.0.0.1/32\", \"::1\"]",
        )],
    );
    let daemon = Daemon::start(&config);
    let mut stranger = client_from([127, 0, 0, 2], daemon.port, "CLIENT1");
    stranger.send("A", &[(98, "0"), (108, "30")]);
    let (closed, received) = stranger.wait_closed();
    assert!(closed);
    assert!(received.iter().all(|m| m.msg_type() != "A"), "{received:?}");
    let line = wait_log(&daemon, "logon refused from 127.0.0.2");
    assert!(line.contains("\"CLIENT1\": SourceNotAllowed"), "{line}");

    let mut member = client_from([127, 0, 0, 1], daemon.port, "CLIENT1");
    member.logon();
    member.new_order("ok-1", "AAPL", "1", "5", "100.00");
    member.exec_report("ok-1", "0");
    shutdown(daemon);
}

#[test]
fn floods_and_wrong_passwords_back_off_while_another_session_trades() {
    const PASSWORD: &str = "Fl00d-Test-Pw";
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        &[
            (
                "max_connections_per_source_per_second = 20",
                "max_connections_per_source_per_second = 10".to_owned(),
            ),
            (
                "logon_failures_before_backoff = 5",
                "logon_failures_before_backoff = 3".to_owned(),
            ),
            (
                "logon_backoff_base_ms = 1000",
                "logon_backoff_base_ms = 2000".to_owned(),
            ),
            (
                "logon_backoff_max_ms = 300000",
                "logon_backoff_max_ms = 4000".to_owned(),
            ),
            session_edit(
                "CLIENT2",
                &format!("password_hash = {:?}", hash_password(PASSWORD)),
            ),
        ],
    );
    let daemon = Daemon::start(&config);
    let mut trader = Client::connect(daemon.port, "CLIENT3", "FIXT.1.1");
    trader.logon();
    let mut order = 0;
    let mut trade = |trader: &mut Client| {
        order += 1;
        let id = format!("t-{order}");
        trader.new_order(&id, "MSFT", "1", "1", "10.00");
        trader.exec_report(&id, "0");
    };
    trade(&mut trader);

    // Connection flood from 127.0.0.2: beyond 10 a second, closed at once.
    let flood: Vec<TcpStream> = (0..30)
        .map(|_| connect_from([127, 0, 0, 2], daemon.port))
        .collect();
    let line = wait_log(&daemon, "refused connection from 127.0.0.2");
    assert!(line.contains("ConnectionRateExceeded"), "{line}");
    trade(&mut trader);

    // Logon flood with a wrong password from 127.0.0.3: three failures, then a backoff.
    for attempt in 1..=3 {
        let mut guesser = client_from([127, 0, 0, 3], daemon.port, "CLIENT2");
        guesser.send("A", &logon_fields("guess"));
        assert!(guesser.wait_closed().0);
        let line = wait_log(&daemon, "logon refused from 127.0.0.3");
        assert!(line.contains("AuthenticationFailed"), "{line}");
        assert!(
            line.contains(&format!("{attempt} failed logons from 127.0.0.3")),
            "{line}"
        );
        if attempt == 3 {
            assert!(line.contains("backoff 2000 ms"), "{line}");
        }
        trade(&mut trader);
    }
    // During the wait, connections from that source are closed before any logon.
    let mut waiting = Client::from_stream(
        connect_from([127, 0, 0, 3], daemon.port),
        "CLIENT2",
        "FIX.4.4",
    );
    assert!(waiting.wait_closed().0);
    let line = wait_log(&daemon, "refused connection from 127.0.0.3");
    assert!(line.contains("LogonBackoff (3 failed logons"), "{line}");
    // And the CompID is backed off from any source, even with the right password.
    let mut elsewhere = client_from([127, 0, 0, 4], daemon.port, "CLIENT2");
    elsewhere.send("A", &logon_fields(PASSWORD));
    assert!(elsewhere.wait_closed().0);
    let line = wait_log(&daemon, "logon refused from 127.0.0.4");
    assert!(line.contains("LogonBackoff"), "{line}");
    trade(&mut trader);

    // After the wait, one more failure doubles it.
    std::thread::sleep(Duration::from_millis(2100));
    let mut guesser = client_from([127, 0, 0, 3], daemon.port, "CLIENT2");
    guesser.send("A", &logon_fields("guess"));
    assert!(guesser.wait_closed().0);
    let line = wait_log(&daemon, "logon refused from 127.0.0.3");
    assert!(
        line.contains("4 failed logons from 127.0.0.3, backoff 4000 ms"),
        "{line}"
    );
    trade(&mut trader);
    drop(flood);
    shutdown(daemon);
}

// ---- TLS -----------------------------------------------------------------------------

struct Pki {
    ca_pem: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

fn make_pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Arbiter Test CA");
    let ca = params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "arbiter-test-venue");
    let server = params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let pki = Pki {
        ca_pem: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        ca,
        ca_key,
    };
    std::fs::write(&pki.ca_pem, pki.ca.pem()).unwrap();
    std::fs::write(&pki.server_cert, server.pem()).unwrap();
    std::fs::write(&pki.server_key, server_key.serialize_pem()).unwrap();
    pki
}

type ClientIdentity = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// A client certificate with subject CN `name`, signed by the test CA.
fn client_identity(pki: &Pki, name: &str) -> ClientIdentity {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let certificate = params.signed_by(&key, &pki.ca, &pki.ca_key).unwrap();
    (
        vec![certificate.der().clone()],
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    )
}

fn tls_client(
    pki: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<ClientIdentity>,
    port: u16,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connection =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    rustls::StreamOwned::new(connection, tcp)
}

fn fix_logon(sender: &str) -> Vec<u8> {
    let body = format!(
        "35=A\x0149={sender}\x0156=ARBITER\x0134=1\x0152={}\x0198=0\x01108=30\x01",
        utc_now()
    );
    let mut message = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
    let checksum: u32 = message.bytes().map(u32::from).sum::<u32>() % 256;
    message.push_str(&format!("10={checksum:03}\x01"));
    message.into_bytes()
}

/// Sends a Logon and returns what comes back before the connection ends or a Logon
/// answer arrives (Err: the TLS session failed).
fn tls_logon(
    stream: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    sender: &str,
) -> Result<String, std::io::Error> {
    stream.write_all(&fix_logon(sender))?;
    stream.flush()?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if text.contains("\x0135=A\x01") && text.contains("\x0110=") {
            return Ok(text);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(text),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(text),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn tls_13_with_client_certificates_mapped_to_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let config = config_with(
        dir.path(),
        &[
            fix_edit(&format!(
                "tls = {{ cert = {:?}, key = {:?}, client_ca = {:?} }}",
                pki.server_cert, pki.server_key, pki.ca_pem
            )),
            session_edit("CLIENT1", "cert_subject = \"client1.member.example\""),
        ],
    );
    let check = arbiter()
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let daemon = Daemon::start(&config);

    // TLS 1.3 with the right certificate: logged on.
    let identity = client_identity(&pki, "client1.member.example");
    let mut member = tls_client(
        &pki,
        &[&rustls::version::TLS13],
        Some(identity),
        daemon.port,
    );
    let answer = tls_logon(&mut member, "CLIENT1").unwrap();
    assert!(answer.contains("\x0135=A\x01"), "{answer:?}");
    assert_eq!(
        member.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    wait_log(&daemon, "logon CLIENT1 from 127.0.0.1");

    // A valid certificate for another subject may not be CLIENT1.
    let identity = client_identity(&pki, "intruder.example");
    let mut intruder = tls_client(
        &pki,
        &[&rustls::version::TLS13],
        Some(identity),
        daemon.port,
    );
    let answer = tls_logon(&mut intruder, "CLIENT1").unwrap_or_default();
    assert!(!answer.contains("\x0135=A\x01"), "{answer:?}");
    let line = wait_log(&daemon, "for \"CLIENT1\": CertificateSubjectMismatch");
    assert!(line.contains("logon refused from 127.0.0.1"), "{line}");

    // ...but a session without a subject rule takes any certificate of the CA.
    let identity = client_identity(&pki, "intruder.example");
    let mut other = tls_client(
        &pki,
        &[&rustls::version::TLS13],
        Some(identity),
        daemon.port,
    );
    let answer = tls_logon(&mut other, "CLIENT2").unwrap();
    assert!(answer.contains("\x0135=A\x01"), "{answer:?}");

    // No client certificate: the handshake fails.
    let mut anonymous = tls_client(&pki, &[&rustls::version::TLS13], None, daemon.port);
    assert!(!tls_logon(&mut anonymous, "CLIENT3")
        .unwrap_or_default()
        .contains("\x0135=A\x01"));
    wait_log(&daemon, "TlsFailure");

    // TLS 1.2 only: refused.
    let identity = client_identity(&pki, "client1.member.example");
    let mut old = tls_client(
        &pki,
        &[&rustls::version::TLS12],
        Some(identity),
        daemon.port,
    );
    let refused = tls_logon(&mut old, "CLIENT1");
    assert!(refused.is_err(), "{refused:?}");
    let line = wait_log(&daemon, "TlsFailure");
    assert!(line.contains("Tls12NotOffered"), "{line}");

    // Plaintext FIX on the TLS listener: closed without an answer.
    let mut plain = Client::connect(daemon.port, "CLIENT4", "FIXT.1.1");
    plain.send("A", &[(98, "0"), (108, "30"), (1137, "9")]);
    let (closed, received) = plain.wait_closed();
    assert!(closed && received.is_empty(), "{received:?}");
    wait_log(&daemon, "TlsFailure");

    // The expiry gauge was logged at start-up for the venue and CA certificates.
    drop((member, other));
    shutdown(daemon);
}

#[test]
fn certificate_expiry_is_logged_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let config = config_with(
        dir.path(),
        &[fix_edit(&format!(
            "tls = {{ cert = {:?}, key = {:?} }}",
            pki.server_cert, pki.server_key
        ))],
    );
    let mut child = arbiter()
        .args(["run", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut expiry = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains("expires in") {
            expiry = Some(line.clone());
        }
        if line.starts_with("arbiter: listening for FIX on ") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let line = expiry.expect("an expiry line");
    // rcgen's default validity ends in 4096.
    assert!(line.contains("\"arbiter-test-venue\""), "{line}");
    let days: i64 = line
        .split("expires in ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(days > 365 * 1000, "{line}");
}
