//! The daemon's NATS connection over TLS, through the real binary and a real nats-server
//! (started here with a `tls { }` block and certificates made by the test): a leader with
//! `[cluster.tls]` takes its lease and releases an order only once JetStream acknowledged
//! it over TLS; `arbiter cluster status` reads the lease over TLS, and without the CA is
//! refused with a clear error; `arbiter config check` refuses a plaintext non-loopback URL.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use arbiter_cluster::server::{require_nats_server, LocalNatsServer, ServerTls};
use common::{write_cluster_config, Client, Daemon};

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path) -> (PathBuf, ServerTls) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "arbiter test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = [
        dir.join("ca.pem"),
        dir.join("nats.pem"),
        dir.join("nats.key"),
    ];
    std::fs::write(&paths[0], ca.pem()).unwrap();
    std::fs::write(&paths[1], cert.pem()).unwrap();
    std::fs::write(&paths[2], key.serialize_pem()).unwrap();
    let [ca, cert, key] = paths;
    (
        ca,
        ServerTls {
            cert,
            key,
            client_ca: None,
        },
    )
}

fn cluster_config(dir: &Path, urls: &str, extra: &str) -> PathBuf {
    write_cluster_config(
        dir,
        &format!("nats_urls = [{urls}]\nshard = \"T\"\nnode_id = \"n1\"\nreplicas = 1\n{extra}"),
        true,
    )
}

fn arbiter(args: &[&str], config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(args)
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_leader_replicates_over_tls_and_a_client_without_the_ca_is_refused() {
    if !require_nats_server() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (ca, server_tls) = certificates(root.path());
    let nats = LocalNatsServer::start_tls(&root.path().join("nats"), &server_tls).unwrap();
    let url = format!("{:?}", nats.url());
    let with_ca = cluster_config(
        &root.path().join("a"),
        &url,
        &format!("[cluster.tls]\nca = {:?}\n", ca.display().to_string()),
    );
    let leader = Daemon::start(&with_ca);
    let mut client = Client::connect(leader.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    // Durability "replicated" (the default): the report waits for JetStream's ack over TLS.
    client.new_order("tls-1", "AAPL", "1", "1", "10.00");
    client.exec_report("tls-1", "0");
    let status = leader.admin(&["status"]);
    assert!(status.contains("replication=replicating"), "{status}");

    let (ok, line) = arbiter(&["cluster", "status", "--config"], &with_ca);
    assert!(ok, "{line}");
    assert!(line.contains("shard=T leader=n1 epoch="), "{line}");

    // The same tls:// URL without the CA: the system roots do not know the test CA.
    let without_ca = cluster_config(&root.path().join("b"), &url, "");
    let (ok, line) = arbiter(&["cluster", "status", "--config"], &without_ca);
    assert!(!ok, "{line}");
    assert!(
        line.contains("UnknownIssuer") && line.contains(&nats.url()),
        "{line}"
    );

    assert!(leader.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = leader.wait();
    assert!(exit.success());
}

#[test]
fn config_check_refuses_a_plaintext_nats_url_off_loopback() {
    let root = tempfile::tempdir().unwrap();
    let plain = cluster_config(root.path(), "\"nats://10.0.0.7:4222\"", "");
    let (ok, text) = arbiter(&["config", "check"], &plain);
    assert!(!ok, "{text}");
    assert!(
        text.contains("cluster.nats_urls[0]: \"nats://10.0.0.7:4222\" is not a loopback address"),
        "{text}"
    );
    for extra in [
        "allow_plaintext = true\n",
        "[cluster.tls]\nca = \"nats-ca.pem\"\n",
    ] {
        let config = cluster_config(&root.path().join("ok"), "\"nats://10.0.0.7:4222\"", extra);
        let (ok, text) = arbiter(&["config", "check"], &config);
        assert!(ok, "{extra}: {text}");
    }
}
