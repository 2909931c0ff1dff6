//! `/metrics` serves text that parses as the Prometheus/OpenMetrics exposition format.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use arbiter_perf::{
    registry, render, stage_recorder, MetricsLayout, MetricsServer, Reporter, ReporterConfig,
    Stage, Telemetry,
};

/// A small checker of the text exposition format: HELP/TYPE lines, then samples
/// `name{label="value",...} number` of declared families. Returns the samples.
type Sample = (String, Vec<(String, String)>, f64);

fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut families: Vec<(String, String)> = Vec::new();
    let mut samples = Vec::new();
    let mut saw_eof = false;
    for line in text.lines() {
        assert!(!saw_eof, "content after # EOF");
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                [
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "info",
                    "unknown"
                ]
                .contains(&kind),
                "{line}"
            );
            families.push((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").expect("label=\"value\"");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), Vec::new()),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name {name}"
        );
        let family = families
            .iter()
            .rev()
            .find(|(f, _)| {
                name == *f
                    || name.strip_prefix(f.as_str()).is_some_and(|s| {
                        ["_total", "_bucket", "_sum", "_count", "_created"].contains(&s)
                    })
            })
            .unwrap_or_else(|| panic!("sample {name} of no declared family"));
        if family.1 == "histogram" && name.ends_with("_bucket") {
            assert!(labels.iter().any(|(k, _)| k == "le"), "{line}");
        }
        samples.push((name, labels, value));
    }
    assert!(saw_eof, "no # EOF");
    samples
}

fn telemetry_with_data() -> Arc<Telemetry> {
    let telemetry = Telemetry::new(MetricsLayout {
        rings: vec!["gateway_to_sequencer".into(), "sequencer_to_gateway".into()],
        agents: vec!["gateway".into(), "sequencer".into()],
        sessions: vec!["ARBITER-CLIENT1".into()],
    });
    let m = &telemetry.metrics;
    m.orders.add(42);
    m.fills.add(7);
    m.rejects(3).add(2);
    m.ring_occupancy(m.ring_index("gateway_to_sequencer").unwrap())
        .set(5);
    m.agent(m.agent_index("gateway").unwrap()).cycle(1);
    m.session_state(m.session_index("ARBITER-CLIENT1").unwrap())
        .set(2);
    let (mut rec, reader) = stage_recorder("gw", &[Stage::WireToWire]);
    for v in 1..=1000u64 {
        rec.record(Stage::WireToWire, v * 1_000);
    }
    let mut reporter = Reporter::new(
        ReporterConfig::default(),
        Arc::clone(&telemetry),
        vec![reader],
    )
    .unwrap();
    reporter.tick().unwrap();
    telemetry
}

#[test]
fn rendered_text_parses_and_has_the_numbers() {
    let telemetry = telemetry_with_data();
    let text = render(&registry(&telemetry));
    let samples = parse_exposition(&text);
    let find_all = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
            })
            .unwrap_or_else(|| panic!("{name} {labels:?} missing in\n{text}"))
            .2
    };
    let find = |name: &str, label: Option<(&str, &str)>| match label {
        Some(label) => find_all(name, &[label]),
        None => find_all(name, &[]),
    };
    assert_eq!(find("arbiter_orders_total", None), 42.0);
    assert_eq!(find("arbiter_rejects_total", Some(("reason", "3"))), 2.0);
    assert_eq!(
        find(
            "arbiter_ring_occupancy",
            Some(("ring", "gateway_to_sequencer"))
        ),
        5.0
    );
    assert_eq!(find("arbiter_session_state", None), 2.0);
    assert_eq!(
        find("arbiter_agent_duty_cycle", Some(("agent", "gateway"))),
        1.0
    );
    assert_eq!(
        find(
            "arbiter_stage_latency_seconds_count",
            Some(("stage", "wire_to_wire"))
        ),
        1000.0
    );
    assert_eq!(
        find_all(
            "arbiter_stage_latency_seconds_bucket",
            &[("stage", "wire_to_wire"), ("le", "+Inf")]
        ),
        1000.0
    );
    let p50 = samples
        .iter()
        .find(|(n, l, _)| {
            n == "arbiter_stage_latency_quantile_seconds"
                && l.contains(&("stage".into(), "wire_to_wire".into()))
                && l.contains(&("quantile".into(), "0.5".into()))
        })
        .unwrap()
        .2;
    assert!((p50 - 0.0005).abs() < 0.000_01, "{p50}");
    // Buckets are cumulative and end at the count.
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == "arbiter_stage_latency_seconds_bucket"
                && l.contains(&("stage".into(), "wire_to_wire".into()))
        })
        .map(|s| s.2)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*buckets.last().unwrap(), 1000.0);
}

#[test]
fn http_server_serves_metrics_and_404() {
    let telemetry = telemetry_with_data();
    let server = MetricsServer::start("127.0.0.1:0", &telemetry).unwrap();
    let get = |path: &str| {
        let mut s = TcpStream::connect(server.address()).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        response
    };
    let ok = get("/metrics");
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    let body = ok.split_once("\r\n\r\n").unwrap().1;
    assert!(!parse_exposition(body).is_empty());
    assert!(get("/other").starts_with("HTTP/1.1 404"));
    server.stop();
}
