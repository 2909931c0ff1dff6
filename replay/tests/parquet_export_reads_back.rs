//! A Parquet export reads back with the parquet crate, row for row equal to the CSV export.
#![cfg(feature = "parquet")]
mod common;

use common::{path_str, replay, scenario, synthetic};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

fn export(dir: &std::path::Path, table: &str, format: &str, out: &std::path::Path) {
    replay(&[
        "export",
        path_str(dir),
        "--format",
        format,
        "--table",
        table,
        "--out",
        path_str(out),
    ]);
}

fn parquet_rows(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let reader = SerializedFileReader::try_from(path).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr();
    let names = schema
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let rows = reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(_, field)| match field {
                    Field::Null => String::new(),
                    Field::Long(v) => v.to_string(),
                    Field::Str(s) => s.clone(),
                    other => panic!("unexpected field {other:?}"),
                })
                .collect()
        })
        .collect();
    (names, rows)
}

fn csv_rows(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let names = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (names, rows)
}

#[test]
fn every_table_reads_back_equal_to_csv() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let out = tempfile::tempdir().unwrap();
    for table in ["commands", "events", "trades", "lifecycle"] {
        let parquet_path = out.path().join(format!("{table}.parquet"));
        let csv_path = out.path().join(format!("{table}.csv"));
        export(dir.path(), table, "parquet", &parquet_path);
        export(dir.path(), table, "csv", &csv_path);
        let from_parquet = parquet_rows(&parquet_path);
        assert!(!from_parquet.1.is_empty(), "{table}");
        assert_eq!(from_parquet, csv_rows(&csv_path), "{table}");
    }
}

#[test]
fn lifecycle_of_a_larger_journal_spans_row_groups_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    synthetic(dir.path(), 12_000);
    let out = tempfile::tempdir().unwrap();
    let parquet_path = out.path().join("lifecycle.parquet");
    let csv_path = out.path().join("lifecycle.csv");
    export(dir.path(), "lifecycle", "parquet", &parquet_path);
    export(dir.path(), "lifecycle", "csv", &csv_path);
    let reader = SerializedFileReader::try_from(parquet_path.as_path()).unwrap();
    assert!(reader.metadata().num_row_groups() > 1);
    assert_eq!(parquet_rows(&parquet_path), csv_rows(&csv_path));
}
