//! Tables for `export`: a fixed schema of integer and text columns, written as CSV or
//! Parquet (plain encoding, uncompressed, every column optional).
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::error::ReplayError;

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A signed 64-bit integer (Parquet INT64).
    Int,
    /// UTF-8 text (Parquet BYTE_ARRAY, STRING).
    Text,
}

/// A column: name and type.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Header / field name.
    pub name: &'static str,
    /// Type.
    pub kind: ColumnType,
}

/// Shorthand for an integer column.
#[must_use]
pub const fn int(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Int,
    }
}

/// Shorthand for a text column.
#[must_use]
pub const fn text(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Text,
    }
}

/// One value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cell {
    /// No value (empty in CSV, null in Parquet).
    #[default]
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl From<i64> for Cell {
    fn from(value: i64) -> Self {
        Cell::Int(value)
    }
}

impl From<u64> for Cell {
    fn from(value: u64) -> Self {
        Cell::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Cell {
    fn from(value: u32) -> Self {
        Cell::Int(i64::from(value))
    }
}

impl From<String> for Cell {
    fn from(value: String) -> Self {
        Cell::Text(value)
    }
}

impl From<&str> for Cell {
    fn from(value: &str) -> Self {
        Cell::Text(value.to_owned())
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Null, Into::into)
    }
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// Apache Parquet (needs the `parquet` cargo feature, on by default).
    Parquet,
}

/// Where rows go.
pub trait TableSink {
    /// Writes one row; `cells` has one value per column, in schema order.
    ///
    /// # Errors
    /// Write errors.
    fn row(&mut self, cells: &[Cell]) -> Result<(), ReplayError>;
    /// Flushes and closes the file.
    ///
    /// # Errors
    /// Write errors.
    fn finish(self: Box<Self>) -> Result<(), ReplayError>;
}

/// Opens a sink for `columns` writing `path`.
///
/// # Errors
/// File creation errors; [`ReplayError::Usage`] for Parquet in a build without the feature.
pub fn open(
    format: Format,
    path: &Path,
    columns: &'static [Column],
) -> Result<Box<dyn TableSink>, ReplayError> {
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
            writer.write_record(columns.iter().map(|c| c.name))?;
            Ok(Box::new(CsvSink { writer }))
        }
        #[cfg(feature = "parquet")]
        Format::Parquet => Ok(Box::new(parquet_sink::ParquetSink::create(path, columns)?)),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(ReplayError::Usage(
            "this build has no Parquet support: rebuild with the `parquet` feature".to_owned(),
        )),
    }
}

struct CsvSink {
    writer: csv::Writer<BufWriter<File>>,
}

impl TableSink for CsvSink {
    fn row(&mut self, cells: &[Cell]) -> Result<(), ReplayError> {
        for cell in cells {
            match cell {
                Cell::Null => self.writer.write_field("")?,
                Cell::Int(value) => self.writer.write_field(value.to_string())?,
                Cell::Text(text) => self.writer.write_field(text)?,
            }
        }
        self.writer.write_record(None::<&[u8]>)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), ReplayError> {
        self.writer.flush()?;
        Ok(())
    }
}

#[cfg(feature = "parquet")]
mod parquet_sink {
    use std::fs::File;
    use std::path::Path;
    use std::sync::Arc;

    use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    use super::{Cell, Column, ColumnType, TableSink};
    use crate::error::ReplayError;

    /// Rows per row group: bounds the memory the buffered columns take (a few MiB).
    const ROW_GROUP_ROWS: usize = 1 << 14;

    enum Buffer {
        Int(Vec<i64>),
        Text(Vec<ByteArray>),
    }

    pub(super) struct ParquetSink {
        writer: SerializedFileWriter<File>,
        buffers: Vec<(Buffer, Vec<i16>)>,
        rows: usize,
    }

    fn export_error(e: parquet::errors::ParquetError) -> ReplayError {
        ReplayError::Export(e.to_string())
    }

    impl ParquetSink {
        pub(super) fn create(path: &Path, columns: &[Column]) -> Result<ParquetSink, ReplayError> {
            let fields = columns
                .iter()
                .map(|c| {
                    let builder = match c.kind {
                        ColumnType::Int => {
                            Type::primitive_type_builder(c.name, PhysicalType::INT64)
                        }
                        ColumnType::Text => {
                            Type::primitive_type_builder(c.name, PhysicalType::BYTE_ARRAY)
                                .with_logical_type(Some(LogicalType::String))
                        }
                    };
                    builder
                        .with_repetition(Repetition::OPTIONAL)
                        .build()
                        .map(Arc::new)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(export_error)?;
            let schema = Type::group_type_builder("arbiter")
                .with_fields(fields)
                .build()
                .map_err(export_error)?;
            let properties = WriterProperties::builder()
                .set_compression(Compression::UNCOMPRESSED)
                .set_created_by("arbiter-replay".to_owned())
                .build();
            let writer = SerializedFileWriter::new(
                File::create(path)?,
                Arc::new(schema),
                Arc::new(properties),
            )
            .map_err(export_error)?;
            let buffers = columns
                .iter()
                .map(|c| {
                    let buffer = match c.kind {
                        ColumnType::Int => Buffer::Int(Vec::new()),
                        ColumnType::Text => Buffer::Text(Vec::new()),
                    };
                    (buffer, Vec::new())
                })
                .collect();
            Ok(ParquetSink {
                writer,
                buffers,
                rows: 0,
            })
        }

        fn flush_group(&mut self) -> Result<(), ReplayError> {
            if self.rows == 0 {
                return Ok(());
            }
            let mut group = self.writer.next_row_group().map_err(export_error)?;
            for (buffer, levels) in &mut self.buffers {
                let mut column = group
                    .next_column()
                    .map_err(export_error)?
                    .ok_or_else(|| ReplayError::Export("schema has fewer columns".into()))?;
                match buffer {
                    Buffer::Int(values) => {
                        column
                            .typed::<Int64Type>()
                            .write_batch(values, Some(levels), None)
                            .map_err(export_error)?;
                        values.clear();
                    }
                    Buffer::Text(values) => {
                        column
                            .typed::<ByteArrayType>()
                            .write_batch(values, Some(levels), None)
                            .map_err(export_error)?;
                        values.clear();
                    }
                }
                levels.clear();
                column.close().map_err(export_error)?;
            }
            group.close().map_err(export_error)?;
            self.rows = 0;
            Ok(())
        }
    }

    impl TableSink for ParquetSink {
        fn row(&mut self, cells: &[Cell]) -> Result<(), ReplayError> {
            assert_eq!(cells.len(), self.buffers.len(), "one cell per column");
            for (cell, (buffer, levels)) in cells.iter().zip(&mut self.buffers) {
                match (cell, buffer) {
                    (Cell::Null, _) => levels.push(0),
                    (Cell::Int(value), Buffer::Int(values)) => {
                        values.push(*value);
                        levels.push(1);
                    }
                    (Cell::Text(text), Buffer::Text(values)) => {
                        values.push(ByteArray::from(text.as_str()));
                        levels.push(1);
                    }
                    (Cell::Int(value), Buffer::Text(values)) => {
                        values.push(ByteArray::from(value.to_string().as_str()));
                        levels.push(1);
                    }
                    (Cell::Text(_), Buffer::Int(_)) => {
                        return Err(ReplayError::Export("text in an integer column".into()));
                    }
                }
            }
            self.rows += 1;
            if self.rows >= ROW_GROUP_ROWS {
                self.flush_group()?;
            }
            Ok(())
        }

        fn finish(mut self: Box<Self>) -> Result<(), ReplayError> {
            self.flush_group()?;
            self.writer.close().map_err(export_error)?;
            Ok(())
        }
    }
}
