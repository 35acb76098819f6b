//! The `--json` report read back through serde: every report committed under
//! `bench/results/` (which `bench/summarize.py` reads) still parses into [`Report`] and keeps
//! every field it had, with the same value, and a report with every current field is written
//! back byte for byte as the bench wrote it (`to_string_pretty` + a newline, `main.rs`): field
//! names, order and number formatting are a stable format.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use strapi_io_bench::report::Report;

/// Every `bench/results/*.json`, with its text.
fn committed_reports() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no report under {}", dir.display());
    out
}

/// The JSON paths of every field (object key) in `v`.
fn field_paths(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{k}");
                field_paths(x, &p, out);
                out.insert(p);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                field_paths(x, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Where `written` lacks a field of `original` or holds another value (numbers compared as
/// f64 within 1e-12 relative: serde_json's default parser may be one ulp off).
fn differences(original: &Value, written: &Value, at: &str, out: &mut Vec<String>) {
    match (original, written) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                match b.get(k) {
                    Some(y) => differences(x, y, &format!("{at}/{k}"), out),
                    None => out.push(format!("{at}/{k}: missing")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{at}[{i}]"), out);
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > 1e-12 * a.abs().max(b.abs()) {
                out.push(format!("{at}: {a} became {b}"));
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{at}: {a} became {b}")),
    }
}

fn read_back(name: &str, text: &str) -> (Value, Value, String) {
    let report: Report =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} does not read: {e}"));
    let written = serde_json::to_string_pretty(&report).unwrap() + "\n";
    (
        serde_json::from_str(text).unwrap(),
        serde_json::from_str(&written).unwrap(),
        written,
    )
}

#[test]
fn every_committed_report_reads_back_with_every_field() {
    for (name, text) in committed_reports() {
        let (original, written, _) = read_back(&name, &text);
        let mut diffs = Vec::new();
        differences(&original, &written, "", &mut diffs);
        assert!(diffs.is_empty(), "{name}: {diffs:#?}");
    }
}

#[test]
fn a_current_report_round_trips_byte_for_byte() {
    let mut current = 0;
    for (name, text) in committed_reports() {
        let (original, written_value, written) = read_back(&name, &text);
        let (mut had, mut has) = (BTreeSet::new(), BTreeSet::new());
        field_paths(&original, "", &mut had);
        field_paths(&written_value, "", &mut has);
        // An older report lacks the fields added since (they read as their defaults).
        if had != has {
            continue;
        }
        current += 1;
        assert_eq!(written, text, "{name} is written back differently");
        // And reading what was written gives the same report again.
        let again: Report = serde_json::from_str(&written).unwrap();
        assert_eq!(
            serde_json::to_string_pretty(&again).unwrap() + "\n",
            written
        );
    }
    assert!(
        current > 0,
        "no report under bench/results has every current field: nothing was checked"
    );
}
