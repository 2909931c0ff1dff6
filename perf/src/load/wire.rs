//! A nonblocking TCP connection with a receive buffer, FIX framing and `ppoll` waits.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use arbiter_fix::{frame, FrameResult};

/// Receive buffer size: many ExecutionReports in flight at once in open loop.
const RECEIVE_BYTES: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct Wire {
    pub(crate) stream: TcpStream,
    rx: Vec<u8>,
    rx_start: usize,
    rx_end: usize,
    pub(crate) closed: bool,
}

/// What a wait ended on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    Readable,
    Timeout,
}

/// Waits until `fd` is ready for `events` or `timeout` passes; EINTR counts as timeout.
fn poll_fd(fd: i32, events: i16, timeout: Duration) -> io::Result<Ready> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(i32::try_from(timeout.subsec_nanos()).unwrap_or(0)),
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let n = unsafe { libc::ppoll(&mut pfd, 1, &ts, core::ptr::null()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(Ready::Timeout);
        }
        return Err(e);
    }
    Ok(if n > 0 {
        Ready::Readable
    } else {
        Ready::Timeout
    })
}

impl Wire {
    pub(crate) fn new(stream: TcpStream) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Wire {
            stream,
            rx: vec![0; RECEIVE_BYTES],
            rx_start: 0,
            rx_end: 0,
            closed: false,
        })
    }

    /// Writes all of `bytes`, waiting for the socket when it is full, but not past
    /// `deadline` (then `TimedOut`: an acceptor that stops reading must not hang the run).
    pub(crate) fn send(
        &mut self,
        mut bytes: &[u8],
        deadline: std::time::Instant,
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            if std::time::Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self.stream.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    poll_fd(
                        self.stream.as_raw_fd(),
                        libc::POLLOUT,
                        Duration::from_millis(100),
                    )?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is available; waits up to `timeout` first when nothing is buffered.
    /// Returns the bytes read (0 on timeout or when the peer closed: see `closed`).
    pub(crate) fn receive(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.rx_start > 0 && (self.rx_start == self.rx_end || self.rx_end > RECEIVE_BYTES / 2) {
            self.rx.copy_within(self.rx_start..self.rx_end, 0);
            self.rx_end -= self.rx_start;
            self.rx_start = 0;
        }
        if self.rx_end == self.rx.len() {
            return Err(io::Error::other("receive buffer full"));
        }
        let mut waited = false;
        loop {
            match self.stream.read(&mut self.rx[self.rx_end..]) {
                Ok(0) => {
                    self.closed = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.rx_end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if waited || timeout.is_zero() {
                        return Ok(0);
                    }
                    waited = true;
                    if poll_fd(self.stream.as_raw_fd(), libc::POLLIN, timeout)? == Ready::Timeout {
                        return Ok(0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next whole message in the buffer, if any; garbled bytes are skipped.
    pub(crate) fn next_message(&mut self) -> Option<(usize, usize)> {
        loop {
            let buf = &self.rx[self.rx_start..self.rx_end];
            if buf.is_empty() {
                return None;
            }
            match frame(buf) {
                FrameResult::Complete(len) => {
                    let range = (self.rx_start, self.rx_start + len);
                    self.rx_start += len;
                    return Some(range);
                }
                FrameResult::Incomplete => return None,
                FrameResult::Garbled(_, skip) => self.rx_start += skip,
            }
        }
    }

    /// The bytes of a range returned by `next_message` (valid until the next `receive`).
    pub(crate) fn bytes(&self, range: (usize, usize)) -> &[u8] {
        &self.rx[range.0..range.1]
    }
}
