//! `arbiter-bench publish`: a plain JetStream publisher, the yardstick the replicator is
//! measured against (same servers, same run).
//!
//! Publishes `--messages` messages of `--bytes` bytes to a fresh file stream of
//! `--replicas` replicas, with `--in-flight` publishes awaiting their acknowledgement
//! (1: one at a time, each waits for its ack before the next is sent). No headers (no
//! message id, no expected sequence): JetStream's own cost. Starts its own nats-server
//! (a local cluster for `--replicas` > 1) unless `--url` is given. Last line:
//!
//! ```text
//! messages=N bytes=B in_flight=K replicas=R publish_p50_us=A publish_p99_us=B messages_per_sec=C
//! ```
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arbiter_cluster::server::LocalNatsServer;
use async_nats::jetstream::{self, stream};
use clap::Args;
use hdrhistogram::Histogram;

/// Arguments of `arbiter-bench publish`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Messages to publish.
    #[arg(long, default_value_t = 2_000)]
    pub messages: u64,
    /// Bytes per message.
    #[arg(long, default_value_t = 64)]
    pub bytes: usize,
    /// Publishes awaiting their acknowledgement (1: one at a time).
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Stream replicas (a local cluster of this many servers is started without --url).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Use this JetStream instead of starting nats-server.
    #[arg(long)]
    pub url: Option<String>,
    /// Send the replicator's headers too (a message id, the expected last sequence and a
    /// range), to tell their cost from JetStream's own.
    #[arg(long)]
    pub headers: bool,
}

/// What one publisher run measured.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    /// Publish-to-acknowledgement latency p50, µs.
    pub p50_us: u64,
    /// p99, µs.
    pub p99_us: u64,
    /// Messages acknowledged per second.
    pub messages_per_sec: f64,
}

/// The servers a benchmark runs against: `url` when given (none started), else one
/// server (`replicas` = 1) or a cluster of `replicas` nodes started in `store`, kept
/// running while the returned list lives. The URL is one node's: the client talks to one
/// server, the cluster replicates.
///
/// # Errors
/// A server that does not start, as text.
pub fn servers_for(
    url: Option<&str>,
    replicas: usize,
    store: &std::path::Path,
) -> Result<(Vec<LocalNatsServer>, String), String> {
    let servers = match url {
        Some(_) => Vec::new(),
        None if replicas == 1 => vec![LocalNatsServer::start(store).map_err(|e| e.to_string())?],
        None => LocalNatsServer::start_cluster(store, replicas).map_err(|e| e.to_string())?,
    };
    let url = match (url, servers.first()) {
        (Some(url), _) => url.to_owned(),
        (None, Some(server)) => server.url(),
        (None, None) => return Err("no server".into()),
    };
    Ok((servers, url))
}

/// Runs the benchmark.
///
/// # Errors
/// Any setup or publish failure, as text.
pub fn run(args: &PublishArgs) -> Result<(), String> {
    if args.messages == 0 || args.bytes == 0 || args.in_flight == 0 || args.replicas == 0 {
        return Err("--messages, --bytes, --in-flight and --replicas must be at least 1".into());
    }
    let store = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (servers, url) = servers_for(args.url.as_deref(), args.replicas, store.path())?;
    let figures = measure(
        &url,
        args.replicas,
        args.messages,
        args.bytes,
        args.in_flight,
        args.headers,
    )?;
    drop(servers);
    println!(
        "messages={} bytes={} in_flight={} replicas={} publish_p50_us={} publish_p99_us={} messages_per_sec={:.0}",
        args.messages,
        args.bytes,
        args.in_flight,
        args.replicas,
        figures.p50_us,
        figures.p99_us,
        figures.messages_per_sec
    );
    Ok(())
}

/// Publishes to a fresh stream (`PLAIN_<pid>_<n>`, deleted afterwards) at `url` and
/// measures.
///
/// # Errors
/// Setup or publish failures, as text.
pub fn measure(
    url: &str,
    replicas: usize,
    messages: u64,
    bytes: usize,
    in_flight: usize,
    headers: bool,
) -> Result<Figures, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(measure_async(
        url,
        replicas,
        messages,
        bytes,
        in_flight.max(1),
        headers,
    ))
}

async fn measure_async(
    url: &str,
    replicas: usize,
    messages: u64,
    bytes: usize,
    in_flight: usize,
    headers: bool,
) -> Result<Figures, String> {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let client = async_nats::connect(url)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    let mut context = jetstream::new(client);
    context.set_timeout(Duration::from_secs(30));
    let name = format!("PLAIN_{}_{run}", std::process::id());
    let subject = format!("plain.{}.{run}", std::process::id());
    context
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("create stream {name}: {e}"))?;
    let payload = bytes::Bytes::from(vec![0x5a; bytes]);
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let mut pending = VecDeque::with_capacity(in_flight);
    let started = Instant::now();
    for n in 0..messages {
        if pending.len() >= in_flight {
            settle(&mut pending, &mut histogram).await?;
        }
        let mut publish = jetstream::context::Publish::build().payload(payload.clone());
        if headers {
            let id = format!("{name}.e1.{n}-{n}.0:{n}");
            let range = format!("{n}-{n}");
            publish = publish
                .message_id(id)
                .expected_last_sequence(n)
                .header("Arbiter-Range", range.as_str());
        }
        let ack = context
            .send_publish(subject.clone(), publish)
            .await
            .map_err(|e| format!("publish: {e}"))?;
        pending.push_back((Instant::now(), ack));
    }
    while !pending.is_empty() {
        settle(&mut pending, &mut histogram).await?;
    }
    let elapsed = started.elapsed();
    let _ = context.delete_stream(&name).await;
    Ok(Figures {
        p50_us: histogram.value_at_quantile(0.5),
        p99_us: histogram.value_at_quantile(0.99),
        messages_per_sec: messages as f64 / elapsed.as_secs_f64(),
    })
}

async fn settle(
    pending: &mut VecDeque<(Instant, jetstream::context::PublishAckFuture)>,
    histogram: &mut Histogram<u64>,
) -> Result<(), String> {
    if let Some((sent, ack)) = pending.pop_front() {
        ack.await.map_err(|e| format!("publish ack: {e}"))?;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        histogram.record(micros.max(1)).map_err(|e| e.to_string())?;
    }
    Ok(())
}
