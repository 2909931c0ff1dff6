//! `/metrics` over TLS 1.3: a rustls client scrapes it, a plaintext request gets no answer,
//! and the days until the served certificate expires are a gauge.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use arbiter_perf::{MetricsLayout, MetricsOptions, MetricsServer, Telemetry};

/// Today's civil date (UTC), Howard Hinnant's algorithm.
fn today() -> (i32, u8, u8) {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u8, d as u8)
}

/// A self-signed certificate for "localhost" expiring in about 30 days (PEM files in
/// `dir`), and its DER for the client's trust store.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "metrics.test");
    // The 1st of the month after next: 29 to 62 days from today.
    let (year, month, _) = today();
    let (year, month) = if month >= 11 {
        (year + 1, month - 10)
    } else {
        (year, month + 2)
    };
    params.not_after = rcgen::date_time_ymd(year, month, 1);
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.join("metrics.pem");
    let key_path = dir.join("metrics.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.der().to_vec())
}

fn client_config(ca_der: Vec<u8>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.into()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn metrics_over_tls_with_certificate_expiry_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path, ca_der) = certificate(dir.path());
    let server_tls = arbiter_fix::tls::server_config(&arbiter_fix::tls::TlsSettings {
        cert_pem: cert_path.clone(),
        key_pem: key_path,
        client_ca_pem: None,
    })
    .unwrap();
    let telemetry = Telemetry::new(MetricsLayout::default());
    let server = MetricsServer::start_with(
        "127.0.0.1:0",
        &telemetry,
        MetricsOptions {
            tls: Some(server_tls),
            certificates: vec![cert_path.clone()],
        },
    )
    .unwrap();

    // A rustls client, TLS 1.3.
    let connection =
        rustls::ClientConnection::new(client_config(ca_der), "localhost".try_into().unwrap())
            .unwrap();
    let socket = TcpStream::connect(server.address()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    write!(tls, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).unwrap();
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let line = response
        .lines()
        .find(|l| l.starts_with("arbiter_certificate_expiry_days{"))
        .unwrap_or_else(|| panic!("no certificate gauge in {response}"));
    assert!(line.contains("subject=\"metrics.test\""), "{line}");
    assert!(
        line.contains(&format!("file=\"{}\"", cert_path.display())),
        "{line}"
    );
    let days: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((28..=62).contains(&days), "{line}");

    // Plaintext HTTP to the TLS endpoint: no HTTP answer, the connection is closed.
    let mut plain = TcpStream::connect(server.address()).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(plain, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    assert!(
        !String::from_utf8_lossy(&answer).contains("arbiter_"),
        "metrics leaked in clear"
    );
    server.stop();
}
