//! Sockets: the UDP feed publisher, the UDP retransmission service, the TCP snapshot
//! service, and a client that joins a feed and recovers gaps.
//!
//! The [`UdpFeed`] owns the [`Publisher`]; no lock is on the publish path. The services run
//! on their own threads with read-only handles that never make the publisher wait: the
//! retransmission service reads the lock-free window ([`WindowReader`]), the snapshot
//! service keeps its own replica of the books ([`SnapshotFollower`]) fed from that window,
//! so a snapshot always describes a command boundary. They block in the kernel or sleep
//! with a short timeout (no spinning) and stop when their handle is dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_engine::{Event, Seq, TimestampNs};

use crate::error::{BookError, NetError};
use crate::packet::PACKET_BYTES_MAX;
use crate::publisher::Publisher;
use crate::receiver::{Receiver, Recovery};
use crate::snapshot::{decode_snapshot, Snapshot};
use crate::snapshot_follower::SnapshotFollower;
use crate::window::WindowReader;

/// How long service threads block before checking their stop flag.
const SERVICE_POLL: Duration = Duration::from_millis(50);
/// How often the snapshot service applies what was published (its replica then lags by
/// at most this, and the window must hold this long's messages to avoid resyncs).
const FOLLOW_POLL: Duration = Duration::from_millis(5);
/// How long a snapshot request waits for the publisher to resynchronise a stale replica.
const RESYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest snapshot a client accepts (a corrupt or hostile peer cannot exhaust memory).
pub const SNAPSHOT_BYTES_MAX: u64 = 1 << 30;

/// Where and how to send the feed.
#[derive(Clone, Copy, Debug)]
pub struct FeedConfig {
    /// Local address to send from (port 0: any).
    pub bind: SocketAddr,
    /// Destination: a multicast group and port, or a unicast address.
    pub destination: SocketAddr,
    /// Interface for outgoing multicast (`None`: the system's choice).
    pub multicast_interface: Option<Ipv4Addr>,
    /// Multicast TTL (1: stay on the local network).
    pub multicast_ttl: u32,
    /// Whether multicast loops back to this host.
    pub multicast_loop: bool,
    /// Send a heartbeat when nothing was sent for this long.
    pub heartbeat_interval: Duration,
}

impl FeedConfig {
    /// Unicast to `destination`, from any local port, heartbeat every second.
    #[must_use]
    pub fn unicast(destination: SocketAddr) -> Self {
        FeedConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            destination,
            multicast_interface: None,
            multicast_ttl: 1,
            multicast_loop: true,
            heartbeat_interval: Duration::from_secs(1),
        }
    }
}

/// The UDP feed: owns the publisher, publishes commands and heartbeats.
#[derive(Debug)]
pub struct UdpFeed {
    socket: UdpSocket,
    destination: SocketAddr,
    publisher: Publisher,
    last_send: Instant,
    heartbeat_interval: Duration,
    send_errors: u64,
}

impl UdpFeed {
    /// Opens the sending socket.
    ///
    /// # Errors
    /// [`NetError::Io`] when the socket cannot be bound or configured.
    pub fn new(config: &FeedConfig, publisher: Publisher) -> Result<Self, NetError> {
        let socket = UdpSocket::bind(config.bind)?;
        if config.destination.ip().is_multicast() {
            socket.set_multicast_ttl_v4(config.multicast_ttl)?;
            socket.set_multicast_loop_v4(config.multicast_loop)?;
            if let Some(interface) = config.multicast_interface {
                set_multicast_interface(&socket, interface)?;
            }
        }
        Ok(UdpFeed {
            socket,
            destination: config.destination,
            publisher,
            last_send: Instant::now(),
            heartbeat_interval: config.heartbeat_interval,
            send_errors: 0,
        })
    }

    /// The publisher.
    #[must_use]
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Sends failed so far (UDP sends fail only on local trouble; receivers recover the
    /// messages by retransmission).
    #[must_use]
    pub fn send_errors(&self) -> u64 {
        self.send_errors
    }

    /// Publishes whatever is pending (the start-up directory, for instance).
    pub fn flush(&mut self) {
        let (socket, destination, errors) = (&self.socket, self.destination, &mut self.send_errors);
        self.publisher.flush(&mut |packet: &[u8]| {
            if socket.send_to(packet, destination).is_err() {
                *errors += 1;
            }
        });
        self.last_send = Instant::now();
    }

    /// Publishes one command's events.
    ///
    /// # Errors
    /// As [`Publisher::publish_command`]: the builder ran out of room and the feed stops.
    pub fn publish_command(
        &mut self,
        seq: Seq,
        timestamp: TimestampNs,
        events: &[Event],
    ) -> Result<(), BookError> {
        self.publish_with(|publisher, send| {
            publisher.publish_command(seq, timestamp, events, &mut |packet: &[u8]| send(packet))
        })
    }

    /// Runs `work` on the publisher with a `send` that goes to the socket; for callers that
    /// feed events one by one (and [`Publisher::set_display_qty`]). Returns what `work`
    /// returns.
    pub fn publish_with<R>(
        &mut self,
        work: impl FnOnce(&mut Publisher, &mut dyn FnMut(&[u8])) -> R,
    ) -> R {
        let (socket, destination, errors) = (&self.socket, self.destination, &mut self.send_errors);
        let mut sent = false;
        let result = work(&mut self.publisher, &mut |packet: &[u8]| {
            sent = true;
            if socket.send_to(packet, destination).is_err() {
                *errors += 1;
            }
        });
        if sent {
            self.last_send = Instant::now();
        }
        result
    }

    /// Sends a heartbeat if nothing was sent for the heartbeat interval, and answers the
    /// snapshot follower's resynchronisation if one is asked. Returns whether a heartbeat
    /// was sent. Call it from the publishing agent's idle path.
    pub fn heartbeat_if_idle(&mut self, now: Instant) -> bool {
        self.publisher.serve_resync();
        if now.duration_since(self.last_send) < self.heartbeat_interval {
            return false;
        }
        let heartbeat = self.publisher.heartbeat();
        if self.socket.send_to(&heartbeat, self.destination).is_err() {
            self.send_errors += 1;
        }
        self.last_send = now;
        true
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn set_multicast_interface(socket: &UdpSocket, interface: Ipv4Addr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // std has no setter for IP_MULTICAST_IF.
    let address = libc::in_addr {
        s_addr: u32::from_ne_bytes(interface.octets()),
    };
    let len = libc::socklen_t::try_from(size_of::<libc::in_addr>()).expect("small");
    // SAFETY: the descriptor is open for the lifetime of `socket`; the option value points
    // to a live `in_addr` of the length given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            std::ptr::from_ref(&address).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn set_multicast_interface(_socket: &UdpSocket, _interface: Ipv4Addr) -> std::io::Result<()> {
    Ok(())
}

/// A running service thread; stops and joins on drop.
#[derive(Debug)]
pub struct ServiceHandle {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServiceHandle {
    /// The address the service listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The retransmission service: answers MoldUDP64-style requests from the window
/// ([`Publisher::window_reader`]), never holding the publisher back.
///
/// # Errors
/// [`NetError::Io`] when the socket cannot be bound.
pub fn spawn_retransmit_service(
    bind: SocketAddr,
    window: WindowReader,
) -> Result<ServiceHandle, NetError> {
    let socket = UdpSocket::bind(bind)?;
    socket.set_read_timeout(Some(SERVICE_POLL))?;
    let local_addr = socket.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("md-retransmit".into())
        .spawn(move || {
            let mut request = [0u8; 64];
            while !thread_stop.load(Ordering::Acquire) {
                let Ok((len, peer)) = socket.recv_from(&mut request) else {
                    continue;
                };
                let _ = window.answer(&request[..len], &mut |packet: &[u8]| {
                    let _ = socket.send_to(packet, peer);
                });
            }
        })?;
    Ok(ServiceHandle {
        local_addr,
        stop,
        thread: Some(thread),
    })
}

/// The snapshot service: each TCP connection gets one snapshot, then the connection closes.
/// The snapshot comes from `follower` ([`Publisher::snapshot_follower`]), which the service
/// keeps caught up every few milliseconds. A connection gets nothing (closed at once) when
/// the replica is stale and the publisher does not resynchronise it in time.
///
/// # Errors
/// [`NetError::Io`] when the listener cannot be bound.
pub fn spawn_snapshot_service(
    bind: SocketAddr,
    mut follower: SnapshotFollower,
) -> Result<ServiceHandle, NetError> {
    let listener = TcpListener::bind(bind)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("md-snapshot".into())
        .spawn(move || {
            while !thread_stop.load(Ordering::Acquire) {
                follower.catch_up();
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        if let Ok(bytes) = follower.snapshot(RESYNC_TIMEOUT) {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                            let _ = stream.write_all(&bytes);
                        }
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                    }
                    Err(_) => std::thread::sleep(FOLLOW_POLL),
                }
            }
        })?;
    Ok(ServiceHandle {
        local_addr,
        stop,
        thread: Some(thread),
    })
}

/// Fetches and decodes one snapshot.
///
/// # Errors
/// [`NetError`] for connection trouble, a snapshot above [`SNAPSHOT_BYTES_MAX`], or bad
/// bytes.
pub fn fetch_snapshot(
    addr: SocketAddr,
    orders_max: usize,
    timeout: Duration,
) -> Result<Snapshot, NetError> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut bytes = Vec::new();
    stream.take(SNAPSHOT_BYTES_MAX).read_to_end(&mut bytes)?;
    decode_snapshot(&bytes, orders_max)
}

/// Opens a socket that receives the feed: binds `port` on all addresses and joins `group`
/// on `interface` when the group is multicast; otherwise binds `bind` as given.
///
/// # Errors
/// [`NetError::Io`] when the socket cannot be bound or the group joined.
pub fn join_feed(
    bind: SocketAddr,
    group: Option<Ipv4Addr>,
    interface: Ipv4Addr,
) -> Result<UdpSocket, NetError> {
    let socket = match group {
        Some(group) if group.is_multicast() => {
            let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], bind.port())))?;
            socket.join_multicast_v4(&group, &interface)?;
            socket
        }
        _ => UdpSocket::bind(bind)?,
    };
    Ok(socket)
}

/// A feed client: a receive socket, a [`Receiver`], and the recovery services.
///
/// Retransmission requests go out from the feed socket, so answers come back to it and take
/// the same path as the feed.
#[derive(Debug)]
pub struct FeedClient {
    socket: UdpSocket,
    receiver: Receiver,
    retransmit: Option<SocketAddr>,
    snapshot: Option<SocketAddr>,
    last_request: Option<(Instant, crate::packet::RetransmitRequest)>,
    /// Resend an unanswered request after this long.
    pub request_timeout: Duration,
    /// Snapshot fetch timeout.
    pub snapshot_timeout: Duration,
}

impl FeedClient {
    /// A client over an opened feed socket.
    #[must_use]
    pub fn new(
        socket: UdpSocket,
        receiver: Receiver,
        retransmit: Option<SocketAddr>,
        snapshot: Option<SocketAddr>,
    ) -> Self {
        FeedClient {
            socket,
            receiver,
            retransmit,
            snapshot,
            last_request: None,
            request_timeout: Duration::from_millis(200),
            snapshot_timeout: Duration::from_secs(5),
        }
    }

    /// The receiver.
    #[must_use]
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The receiver, mutably (to take applied messages).
    pub fn receiver_mut(&mut self) -> &mut Receiver {
        &mut self.receiver
    }

    /// Waits up to `timeout` for one packet, applies it, then asks for what is missing.
    /// Returns whether a packet arrived. `drop_packet` lets tests lose packets on purpose.
    ///
    /// # Errors
    /// [`NetError`] for socket trouble or a snapshot that cannot be fetched; bad packets
    /// are counted and skipped, not errors.
    pub fn poll(
        &mut self,
        timeout: Duration,
        drop_packet: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<bool, NetError> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut buffer = [0u8; PACKET_BYTES_MAX + 64];
        let arrived = match self.socket.recv_from(&mut buffer) {
            Ok((len, _)) => {
                if !drop_packet(&buffer[..len]) {
                    let _ = self.receiver.on_packet(&buffer[..len]);
                }
                true
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(error) => return Err(error.into()),
        };
        self.recover()?;
        Ok(arrived)
    }

    /// Sends a retransmission request or fetches a snapshot if the receiver needs one.
    ///
    /// # Errors
    /// [`NetError`] when a needed snapshot cannot be fetched.
    pub fn recover(&mut self) -> Result<(), NetError> {
        match self.receiver.recovery() {
            Recovery::UpToDate => self.last_request = None,
            Recovery::Retransmit(request) => {
                let now = Instant::now();
                let due = match self.last_request {
                    Some((at, last)) => {
                        last != request || now.duration_since(at) >= self.request_timeout
                    }
                    None => true,
                };
                if let (true, Some(server)) = (due, self.retransmit) {
                    self.socket.send_to(&request.encode(), server)?;
                    self.last_request = Some((now, request));
                }
            }
            Recovery::Snapshot => {
                if let Some(server) = self.snapshot {
                    let snapshot =
                        fetch_snapshot(server, self.receiver.orders_max(), self.snapshot_timeout)?;
                    self.receiver.on_snapshot(snapshot)?;
                    self.last_request = None;
                }
            }
        }
        Ok(())
    }
}
