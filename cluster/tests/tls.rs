//! NATS over TLS with a real nats-server (started here with a `tls { }` block) and
//! certificates made by the test: replication, the lease and mutual TLS work with the CA
//! configured; a client without the CA, with another CA, without a client certificate, or
//! in plaintext is refused.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use arbiter_cluster::server::{require_nats_server, wait_jetstream_on, LocalNatsServer, ServerTls};
use arbiter_cluster::{
    follow, FollowerConfig, FollowerStop, Lease, LeaseConfig, NatsConnection, NatsTls, Replicator,
    ReplicatorConfig, StreamSettings,
};
use arbiter_engine::wire::RECORD_COMMAND;
use arbiter_journal::{
    Durability, Journal, JournalConfig, JournalId, RecordType, Sequence, TimestampNs,
};

const SEGMENT: u64 = 256 * 1024;

/// A test CA, a server certificate for 127.0.0.1/localhost and a client certificate signed
/// by it, and an unrelated CA (PEM files in `dir`).
struct Pki {
    ca: PathBuf,
    other_ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
}

fn ca(name: &str) -> (rcgen::CertificateParams, rcgen::KeyPair, rcgen::Certificate) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let cert = params.clone().self_signed(&key).unwrap();
    (params, key, cert)
}

fn leaf(
    dir: &Path,
    name: &str,
    names: &[&str],
    usage: rcgen::ExtendedKeyUsagePurpose,
    issuer: &rcgen::Certificate,
    issuer_key: &rcgen::KeyPair,
) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer, issuer_key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// A nats-server serving TLS with the test CA's server certificate; with
/// `verify_clients`, it also asks clients for a certificate signed by that CA.
fn tls_server(dir: &Path, pki: &Pki, verify_clients: bool) -> LocalNatsServer {
    LocalNatsServer::start_tls(
        &dir.join("nats"),
        &ServerTls {
            cert: pki.server.0.clone(),
            key: pki.server.1.clone(),
            client_ca: verify_clients.then(|| pki.ca.clone()),
        },
    )
    .unwrap()
}

fn pki(dir: &Path) -> Pki {
    let (_, ca_key, ca_cert) = ca("arbiter test CA");
    let (_, _, other) = ca("some other CA");
    let ca_path = dir.join("ca.pem");
    let other_path = dir.join("other-ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    std::fs::write(&other_path, other.pem()).unwrap();
    Pki {
        ca: ca_path,
        other_ca: other_path,
        server: leaf(
            dir,
            "nats-server",
            &["localhost", "127.0.0.1"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            &ca_cert,
            &ca_key,
        ),
        client: leaf(
            dir,
            "node-a",
            &["node-a"],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            &ca_cert,
            &ca_key,
        ),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn with_ca(
    server: &LocalNatsServer,
    ca: &Path,
    client: Option<&(PathBuf, PathBuf)>,
) -> NatsConnection {
    NatsConnection::new(server.url())
        .with_tls(NatsTls {
            ca: Some(ca.to_path_buf()),
            client_cert: client.cloned(),
        })
        .with_connect_timeout(Duration::from_secs(10))
}

fn connect_error(connection: &NatsConnection) -> String {
    match runtime().block_on(connection.connect()) {
        Ok(_) => panic!(
            "connected to {} although it must be refused",
            connection.describe()
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn replication_and_the_lease_work_over_tls_with_the_ca() {
    if !require_nats_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = tls_server(dir.path(), &pki, false);
    assert!(server.url().starts_with("tls://"));
    let connection = with_ca(&server, &pki.ca, None);
    wait_jetstream_on(&connection, Duration::from_secs(30)).unwrap();

    // A leader journal replicated over TLS and rebuilt from the stream by a follower.
    let mut journal_config = JournalConfig::new(JournalId::from_u128(0x7157));
    journal_config.segment_size_bytes = SEGMENT;
    journal_config.durability = Durability::None;
    journal_config.prefault = false;
    let leader_dir = dir.path().join("leader");
    let standby_dir = dir.path().join("standby");
    let (mut writer, _) = Journal::open(&leader_dir, journal_config.clone()).unwrap();
    let flusher = writer.flusher().unwrap().spawn();
    let settings = StreamSettings {
        shard: "T".into(),
        replicas: 1,
        duplicate_window: Duration::from_secs(120),
    };
    let mut config = ReplicatorConfig::new(
        connection.clone(),
        settings,
        &leader_dir,
        writer.identity(),
        SEGMENT,
    );
    config.batch_bytes_max = 2048;
    let replicator = Replicator::spawn(config, Some(writer.durable_cursor())).unwrap();
    let cursor = replicator.cursor();
    for n in 1..=300u64 {
        let seq = writer.next_sequence();
        let payload = n.to_le_bytes();
        writer
            .append(RecordType(RECORD_COMMAND), seq, TimestampNs(n), &payload)
            .unwrap();
    }
    let last = writer.next_sequence().0 - 1;
    writer.close().unwrap();
    flusher.stop().unwrap();
    assert!(cursor.wait_for(Sequence(last), Duration::from_secs(60)));
    let stats = replicator.stats();
    replicator.stop().unwrap();
    assert!(stats.batches.load(std::sync::atomic::Ordering::Relaxed) > 1);

    let (mut standby, _) = Journal::open(&standby_dir, journal_config).unwrap();
    let mut seen = Vec::new();
    let mut apply = |_: RecordType, _: Sequence, _: TimestampNs, payload: &[u8]| {
        seen.push(u64::from_le_bytes(
            payload.try_into().map_err(|_| "payload size")?,
        ));
        Ok(())
    };
    let mut follower = FollowerConfig::new(connection.clone(), "T");
    follower.until = Some(Sequence(last));
    follower.idle_timeout = Some(Duration::from_secs(30));
    let report = follow(&follower, &mut standby, &AtomicBool::new(false), &mut apply).unwrap();
    assert_eq!(report.stop, FollowerStop::Reached);
    standby.close().unwrap();
    assert_eq!(seen, (1..=300).collect::<Vec<u64>>());

    // The lease over the same TLS connection settings.
    runtime().block_on(async {
        let context = connection.jetstream().await.unwrap();
        let mut lease = Lease::open(
            &context,
            LeaseConfig {
                bucket: "arbiter_leases".into(),
                shard: "T".into(),
                node_id: "node-a".into(),
                ttl: Duration::from_secs(3),
                renew_interval: Duration::from_secs(1),
                replicas: 1,
            },
        )
        .await
        .unwrap();
        assert!(lease.try_acquire().await.unwrap());
        assert_eq!(lease.peek().await.unwrap().unwrap().node_id, "node-a");
    });
}

#[test]
fn clients_without_the_ca_or_in_plaintext_are_refused() {
    if !require_nats_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = tls_server(dir.path(), &pki, false);
    // The server is up and serving TLS to a client with the CA.
    wait_jetstream_on(&with_ca(&server, &pki.ca, None), Duration::from_secs(30)).unwrap();

    // No CA configured: the system roots do not know the test CA.
    let no_ca = NatsConnection::new(server.url()).with_connect_timeout(Duration::from_secs(10));
    let error = connect_error(&no_ca);
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(error.contains(&server.url()), "{error}");

    // Another CA: refused, and the error names the CA file checked against.
    let error = connect_error(&with_ca(&server, &pki.other_ca, None));
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(error.contains("other-ca.pem"), "{error}");

    // A plaintext client: the server announces that TLS is required and answers its
    // CONNECT with an error, never a PONG.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut info = [0u8; 4096];
    let n = stream.read(&mut info).unwrap();
    let info = String::from_utf8_lossy(&info[..n]).into_owned();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let _ = stream.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.contains("PONG"),
        "plaintext client served: {answer}"
    );
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate() {
    if !require_nats_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = tls_server(dir.path(), &pki, true);
    let with_certificate = with_ca(&server, &pki.ca, Some(&pki.client));
    wait_jetstream_on(&with_certificate, Duration::from_secs(30)).unwrap();
    // The server's alert (bad certificate, or certificate required on newer servers).
    let error = connect_error(&with_ca(&server, &pki.ca, None));
    assert!(
        error.contains("alert") && error.contains(&server.url()),
        "{error}"
    );
    // A client key that is not PEM is named before any connection attempt.
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "not a key").unwrap();
    let error = connect_error(&with_ca(
        &server,
        &pki.ca,
        Some(&(pki.client.0.clone(), bad)),
    ));
    assert!(
        error.contains("client key") && error.contains("bad.key"),
        "{error}"
    );
}
