//! HdrHistogram interval logs (`.hlog`): a rotating writer and a reader.
//!
//! Format (as written by Java's `HistogramLogWriter`, read by its `HistogramLogAnalyzer`,
//! `HistogramLogProcessor` and the Rust `IntervalLogIterator`):
//! ```text
//! #Arbiter interval log: values in nanoseconds
//! #[StartTime: 1700000000.000 (seconds since epoch)]
//! #[BaseTime: 1700000000.000 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! Tag=wire_to_wire,0.000,1.000,125000.000,HISTFAAAA...
//! ```
//! Interval start timestamps are seconds since `BaseTime`; `Interval_Max` is in ns (max
//! value divisor 1); histograms are V2 + DEFLATE, base64 encoded.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Why a log could not be written or read.
#[derive(Debug)]
#[non_exhaustive]
pub enum HlogError {
    /// File system error.
    Io(io::Error),
    /// A tag with a comma, space or newline, or empty.
    BadTag(String),
    /// A histogram could not be serialized.
    Serialize(String),
    /// A line could not be parsed or a histogram could not be decoded.
    Parse(String),
}

impl core::fmt::Display for HlogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HlogError::Io(e) => write!(f, "hlog i/o: {e}"),
            HlogError::BadTag(t) => write!(f, "hlog tag {t:?} is not valid"),
            HlogError::Serialize(e) => write!(f, "hlog serialize: {e}"),
            HlogError::Parse(e) => write!(f, "hlog parse: {e}"),
        }
    }
}

impl std::error::Error for HlogError {}

impl From<io::Error> for HlogError {
    fn from(e: io::Error) -> Self {
        HlogError::Io(e)
    }
}

/// Where and when to rotate.
#[derive(Clone, Debug)]
pub struct HlogConfig {
    /// Log path. With rotation, files are `STEM.0000.hlog`, `STEM.0001.hlog`, ... next to it.
    pub path: PathBuf,
    /// Start a new file once the current one holds this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Start a new file once the current one is this old.
    pub rotate_after: Option<Duration>,
}

impl HlogConfig {
    /// A single, never-rotated file.
    #[must_use]
    pub fn single(path: impl Into<PathBuf>) -> Self {
        HlogConfig {
            path: path.into(),
            rotate_bytes: None,
            rotate_after: None,
        }
    }

    fn rotates(&self) -> bool {
        self.rotate_bytes.is_some() || self.rotate_after.is_some()
    }

    /// The path of file number `index`.
    #[must_use]
    pub fn file_path(&self, index: u32) -> PathBuf {
        if !self.rotates() {
            return self.path.clone();
        }
        let stem = self
            .path
            .file_stem()
            .map_or_else(|| "log".into(), |s| s.to_string_lossy().into_owned());
        self.path.with_file_name(format!("{stem}.{index:04}.hlog"))
    }
}

fn seconds_since_epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

struct OpenFile {
    out: BufWriter<CountingFile>,
    base_time: SystemTime,
    opened: Instant,
}

/// A `File` that counts the bytes written through it.
struct CountingFile {
    file: File,
    bytes: u64,
}

impl Write for CountingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Writes tagged interval histograms, rotating files by size or age. Runs on the reporter
/// thread, never on the hot path.
pub struct HlogWriter {
    config: HlogConfig,
    index: u32,
    current: OpenFile,
    serializer: V2DeflateSerializer,
    files: Vec<PathBuf>,
}

impl core::fmt::Debug for HlogWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HlogWriter")
            .field("config", &self.config)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl HlogWriter {
    /// Creates the first file and writes its headers.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(config: HlogConfig) -> Result<Self, HlogError> {
        let path = config.file_path(0);
        let current = Self::open(&path, SystemTime::now())?;
        Ok(HlogWriter {
            config,
            index: 0,
            current,
            serializer: V2DeflateSerializer::new(),
            files: vec![path],
        })
    }

    fn open(path: &Path, start: SystemTime) -> Result<OpenFile, HlogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::create(path)?;
        let mut out = BufWriter::new(CountingFile { file, bytes: 0 });
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment("Arbiter interval log: values in nanoseconds")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)?;
        writeln!(
            out,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )?;
        Ok(OpenFile {
            out,
            base_time: start,
            opened: Instant::now(),
        })
    }

    fn due_for_rotation(&mut self) -> bool {
        let bytes = self.current.out.get_ref().bytes + self.current.out.buffer().len() as u64;
        self.config.rotate_bytes.is_some_and(|max| bytes >= max)
            || self
                .config
                .rotate_after
                .is_some_and(|age| self.current.opened.elapsed() >= age)
    }

    /// Appends one interval histogram tagged `tag`, which covered `start..start+duration`.
    /// Rotates first when the current file is full or old.
    ///
    /// # Errors
    /// A bad tag, an I/O error or a serialization error.
    pub fn write(
        &mut self,
        tag: &str,
        start: SystemTime,
        duration: Duration,
        histogram: &Histogram<u64>,
    ) -> Result<(), HlogError> {
        let tag_value = Tag::new(tag)
            .filter(|_| !tag.is_empty() && !tag.contains([' ', '\n', '\r']))
            .ok_or_else(|| HlogError::BadTag(tag.to_owned()))?;
        if self.due_for_rotation() {
            self.rotate(start)?;
        }
        let offset = start
            .duration_since(self.current.base_time)
            .unwrap_or(Duration::ZERO);
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.current.out, &mut self.serializer)?;
        writer
            .write_histogram(histogram, offset, duration, Some(tag_value))
            .map_err(|e| HlogError::Serialize(e.to_string()))?;
        Ok(())
    }

    fn rotate(&mut self, start: SystemTime) -> Result<(), HlogError> {
        self.current.out.flush()?;
        self.index += 1;
        let path = self.config.file_path(self.index);
        self.current = Self::open(&path, start)?;
        self.files.push(path);
        Ok(())
    }

    /// Flushes buffered lines to the file.
    ///
    /// # Errors
    /// An I/O error.
    pub fn flush(&mut self) -> Result<(), HlogError> {
        self.current.out.flush()?;
        Ok(())
    }

    /// Every file written so far, oldest first.
    #[must_use]
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl Drop for HlogWriter {
    fn drop(&mut self) {
        let _ = self.current.out.flush();
    }
}

/// One interval read back from a log.
#[derive(Debug, Clone)]
pub struct HlogInterval {
    /// The tag, if any.
    pub tag: Option<String>,
    /// Interval start in seconds since the epoch (BaseTime + offset; the offset alone when
    /// the log has no BaseTime or StartTime).
    pub start_s: f64,
    /// Interval length in seconds.
    pub duration_s: f64,
    /// The decoded histogram.
    pub histogram: Histogram<u64>,
}

/// Parses a whole log.
///
/// # Errors
/// A malformed line or histogram.
pub fn parse_hlog(bytes: &[u8]) -> Result<Vec<HlogInterval>, HlogError> {
    let mut base_s: Option<f64> = None;
    let mut start_s: Option<f64> = None;
    let mut deserializer = Deserializer::new();
    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        match entry.map_err(|e| HlogError::Parse(format!("{e:?}")))? {
            LogEntry::StartTime(t) => start_s = Some(t.as_secs_f64()),
            LogEntry::BaseTime(t) => base_s = Some(t.as_secs_f64()),
            LogEntry::Interval(interval) => {
                let raw = base64_decode(interval.encoded_histogram())
                    .ok_or_else(|| HlogError::Parse("bad base64".into()))?;
                let histogram: Histogram<u64> = deserializer
                    .deserialize(&mut io::Cursor::new(raw))
                    .map_err(|e| HlogError::Parse(format!("histogram: {e:?}")))?;
                let offset = interval.start_timestamp().as_secs_f64();
                intervals.push(HlogInterval {
                    tag: interval.tag().map(|t| t.as_str().to_owned()),
                    start_s: base_s.or(start_s).unwrap_or(0.0) + offset,
                    duration_s: interval.duration().as_secs_f64(),
                    histogram,
                });
            }
        }
    }
    Ok(intervals)
}

/// Reads and parses the log at `path`.
///
/// # Errors
/// The file cannot be read, or [`parse_hlog`] fails.
pub fn read_hlog(path: &Path) -> Result<Vec<HlogInterval>, HlogError> {
    parse_hlog(&std::fs::read(path)?)
}

/// Standard base64 decoding (the alphabet the writer uses), without another dependency.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.trim().as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in bytes {
        if c == b'=' {
            break;
        }
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Seconds since the epoch of `t`, as the log headers write it.
#[must_use]
pub fn epoch_seconds(t: SystemTime) -> f64 {
    seconds_since_epoch(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::latency_histogram;

    #[test]
    fn base64_round_trip_known_vectors() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==").unwrap(), b"M");
        assert!(base64_decode("T!==").is_none());
    }

    #[test]
    fn bad_tags_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = HlogWriter::create(HlogConfig::single(dir.path().join("a.hlog"))).unwrap();
        let h = latency_histogram();
        for tag in ["", "a,b", "a b"] {
            assert!(matches!(
                w.write(tag, SystemTime::now(), Duration::from_secs(1), &h),
                Err(HlogError::BadTag(_))
            ));
        }
    }
}
