//! Crash safety through the real binary: under load with `sync` durability the daemon is
//! killed with SIGKILL at varying moments, restarted, and every order the client saw
//! acknowledged must still be there.

mod common;

use common::{write_config, Client, Daemon};

const ROUNDS: usize = 5;
const ORDERS_PER_ROUND: usize = 150;

#[test]
fn every_acknowledged_order_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sync");
    let mut acked: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let daemon = Daemon::start(&config);
        let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
        client.logon_reset();
        // Everything acknowledged so far must be known after the restart.
        for id in &acked {
            client.send("H", &[(11, id), (55, "AAPL"), (54, "1")]);
            let status = client.expect(
                |m| m.msg_type() == "8" && m.get(11) == Some(id.as_str()),
                "status",
            );
            assert_eq!(
                status.get(150),
                Some("I"),
                "acknowledged order {id} lost after kill -9: {status:?}"
            );
        }
        // A burst of resting orders, then a kill after a round-dependent number of acks,
        // while the rest are still in flight.
        let ids: Vec<String> = (0..ORDERS_PER_ROUND)
            .map(|n| format!("r{round}-o{n}"))
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let price = format!("{}.{:02}", 10 + n / 100, n % 100);
            client.new_order(id, "AAPL", "1", "1", &price);
        }
        let kill_after = 10 + round * 29 % ORDERS_PER_ROUND;
        let mut seen = 0;
        while seen < kill_after {
            let ack = client.expect(|m| m.msg_type() == "8" && m.get(150) == Some("0"), "ack");
            acked.push(ack.get(11).unwrap().to_owned());
            seen += 1;
        }
        daemon.kill9();
    }
    // A last clean start checks the final round too.
    let daemon = Daemon::start(&config);
    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    for id in &acked {
        client.send("H", &[(11, id), (55, "AAPL"), (54, "1")]);
        let status = client.expect(
            |m| m.msg_type() == "8" && m.get(11) == Some(id.as_str()),
            "status",
        );
        assert_eq!(
            status.get(150),
            Some("I"),
            "acknowledged order {id} lost: {status:?}"
        );
    }
    let status = daemon.admin(&["status"]);
    let live: usize = status
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("live_orders="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        live >= acked.len(),
        "{live} live orders, {} acknowledged",
        acked.len()
    );
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    assert!(daemon.wait().0.success());
}
