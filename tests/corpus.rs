//! The parser corpus: every sample under `tests/corpus/<format>/` goes through the raw-ingest
//! pipeline, and the normalized events must equal `<sample>.expected.json` beside it.
//! `TIDEMARK_BLESS=1 cargo test --test corpus` rewrites the expected files (review the diff).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tidemark::parse::{Format, ParseContext, Parsed, parse_body};

const RECEIVED_AT: &str = "2026-11-21T12:00:00Z";

fn samples() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let format = dir.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if !path.to_string_lossy().ends_with(".expected.json") {
                out.push((format.clone(), path));
            }
        }
    }
    out.sort();
    out
}

fn context() -> ParseContext {
    ParseContext::new(DateTime::parse_from_rfc3339(RECEIVED_AT).unwrap().with_timezone(&Utc))
}

fn render(parsed: &[Parsed]) -> Value {
    Value::Array(
        parsed
            .iter()
            .map(|p| {
                let e = &p.event;
                json!({
                    "index": p.index,
                    "parse_error": p.parse_error,
                    "@timestamp": e.event_time.map(|t| t.to_rfc3339()),
                    "kind": e.kind.as_str(),
                    "severity": e.severity,
                    "host_name": e.host_name,
                    "source_ip": e.source_ip.map(|ip| ip.to_string()),
                    "source_port": e.source_port,
                    "destination_ip": e.destination_ip.map(|ip| ip.to_string()),
                    "destination_port": e.destination_port,
                    "user_name": e.user_name,
                    "process_name": e.process_name,
                    "event_action": e.event_action,
                    "event_outcome": e.event_outcome,
                    "message": e.message,
                    "fields": serde_json::from_str::<Value>(&e.fields_json).unwrap(),
                    "raw": String::from_utf8_lossy(&e.raw),
                })
            })
            .collect(),
    )
}

#[test]
fn every_corpus_sample_normalizes_to_its_expected_output() {
    let bless = std::env::var_os("TIDEMARK_BLESS").is_some();
    let samples = samples();
    assert!(!samples.is_empty(), "no corpus samples found");
    let mut failures = Vec::new();
    for (format, path) in &samples {
        let format_value: Format = format
            .parse()
            .unwrap_or_else(|e| panic!("corpus directory {format}: {e}"));
        let body = std::fs::read(path).unwrap();
        let actual = render(&parse_body(&body, format_value, "corpus", &context()));
        let expected_path = PathBuf::from(format!("{}.expected.json", path.with_extension("").display()));
        if bless {
            std::fs::write(&expected_path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(text) => {
                let expected: Value = serde_json::from_str(&text).unwrap();
                if expected != actual {
                    failures.push(format!(
                        "{}: output differs from {}\nactual:\n{}",
                        path.display(),
                        expected_path.display(),
                        serde_json::to_string_pretty(&actual).unwrap()
                    ));
                }
            }
            Err(_) => failures.push(format!(
                "{}: missing {} (run TIDEMARK_BLESS=1 cargo test --test corpus, then review it)",
                path.display(),
                expected_path.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} samples failed:\n{}",
        failures.len(),
        samples.len(),
        failures.join("\n\n")
    );
}

#[test]
fn auto_detection_agrees_with_the_named_format_for_self_describing_formats() {
    for (format, path) in samples() {
        if !matches!(format.as_str(), "syslog" | "cef" | "leef" | "xml" | "stix" | "csv") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let named = render(&parse_body(&body, format.parse().unwrap(), "corpus", &context()));
        let auto = render(&parse_body(&body, Format::Auto, "corpus", &context()));
        assert_eq!(
            auto,
            named,
            "{}: auto-detection differs from format={format}",
            path.display()
        );
    }
}

#[test]
fn a_line_no_parser_understands_is_kept_as_text_with_a_parse_error() {
    let body = b"CEF:0|broken header\nplain words, nothing else\n";
    let parsed = parse_body(body, Format::Cef, "corpus", &context());
    assert_eq!(parsed.len(), 2);
    for p in &parsed {
        assert!(
            p.parse_error.as_deref().is_some_and(|e| e.starts_with("cef")),
            "{:?}",
            p.parse_error
        );
        assert_eq!(p.event.kind.as_str(), "log");
        assert!(p.event.fields_json.contains("tidemark.parse_error"));
    }
    assert_eq!(parsed[0].event.raw, b"CEF:0|broken header");
    assert_eq!(parsed[1].event.message.as_deref(), Some("plain words, nothing else"));
}
