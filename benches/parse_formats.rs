//! Throughput of the whole raw-ingest pipeline per format: parsing, classification, IoC
//! extraction and normalization, on the corpus samples scaled to at least 100k records.
//! The anchor is `serde_json` alone parsing the same number of ECS JSON lines, in the same run.
//!
//! `cargo bench --bench parse_formats`; `TIDEMARK_BENCH_RECORDS` changes the scale.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use tidemark::parse::{Format, ParseContext, parse_body};

const DEFAULT_RECORDS: usize = 100_000;
const PASSES: usize = 3;

/// One format's body, scaled: line formats repeat their lines; document formats repeat the
/// document (each repetition parsed as its own body, as a client would send it).
struct Workload {
    name: &'static str,
    format: Format,
    bodies: Vec<Vec<u8>>,
    records: usize,
    bytes: usize,
}

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| !p.to_string_lossy().ends_with(".expected.json"));
    files.sort();
    files.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn line_workload(name: &'static str, dir: &str, format: Format, target: usize) -> Workload {
    let lines: Vec<Vec<u8>> = corpus(dir)
        .iter()
        .flat_map(|f| {
            f.split(|&b| b == b'\n')
                .filter(|l| !l.trim_ascii().is_empty())
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    // Bodies of 1,000 lines, as a shipper batches them.
    let mut bodies = Vec::new();
    let mut body = Vec::new();
    for i in 0..target {
        body.extend_from_slice(&lines[i % lines.len()]);
        body.push(b'\n');
        if (i + 1) % 1_000 == 0 {
            bodies.push(std::mem::take(&mut body));
        }
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    let bytes = bodies.iter().map(Vec::len).sum();
    Workload {
        name,
        format,
        bodies,
        records: target,
        bytes,
    }
}

fn document_workload(name: &'static str, dir: &str, format: Format, target: usize, ctx: &ParseContext) -> Workload {
    let documents = corpus(dir);
    let per_document: Vec<usize> = documents
        .iter()
        .map(|d| parse_body(d, format, "bench", ctx).len())
        .collect();
    let mut bodies = Vec::new();
    let mut records = 0;
    let mut i = 0;
    while records < target {
        bodies.push(documents[i % documents.len()].clone());
        records += per_document[i % documents.len()];
        i += 1;
    }
    let bytes = bodies.iter().map(Vec::len).sum();
    Workload {
        name,
        format,
        bodies,
        records,
        bytes,
    }
}

fn best_of(passes: usize, mut run: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..passes {
        let started = Instant::now();
        count = run();
        best = best.min(started.elapsed());
    }
    (best, count)
}

fn main() {
    let target = std::env::var("TIDEMARK_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RECORDS);
    let ctx = ParseContext::new(Utc::now());
    let workloads = vec![
        line_workload("syslog", "syslog", Format::Syslog, target),
        line_workload("cef", "cef", Format::Cef, target),
        line_workload("leef", "leef", Format::Leef, target),
        line_workload("kv", "kv", Format::Kv, target),
        line_workload("auto (mixed lines)", "cef", Format::Auto, target),
        document_workload("xml (Windows events)", "xml", Format::Xml, target, &ctx),
        document_workload("csv", "csv", Format::Csv, target, &ctx),
        document_workload("stix", "stix", Format::Stix, target, &ctx),
    ];

    // Anchor: serde_json alone on as many ECS JSON lines, the least a JSON pipeline does.
    let json_line = br#"{"@timestamp":"2026-11-20T10:00:00Z","event":{"kind":"log","dataset":"sshd"},"host":{"name":"web-1"},"source":{"ip":"203.0.113.7","port":51022},"user":{"name":"root"},"message":"Failed password for root from 203.0.113.7 port 51022 ssh2"}"#;
    let (anchor, _) = best_of(PASSES, || {
        (0..target)
            .map(|_| black_box(serde_json::from_slice::<serde_json::Value>(black_box(json_line)).is_ok()) as usize)
            .sum()
    });
    let anchor_rate = target as f64 / anchor.as_secs_f64();

    println!("raw-ingest pipeline per format (parse + classify + IoCs + normalize), one thread, best of {PASSES}");
    println!(
        "{:<22} {:>9} {:>10} {:>12} {:>9} {:>14}",
        "format", "records", "seconds", "records/s", "MB/s", "x serde_json"
    );
    for w in &workloads {
        let (elapsed, records) = best_of(PASSES, || {
            w.bodies
                .iter()
                .map(|b| black_box(parse_body(black_box(b), w.format, "bench", &ctx)).len())
                .sum()
        });
        assert!(
            records >= w.records.min(target),
            "{}: {records} records parsed, {} expected",
            w.name,
            w.records
        );
        let rate = records as f64 / elapsed.as_secs_f64();
        println!(
            "{:<22} {:>9} {:>10.3} {:>12.0} {:>9.1} {:>13.2}x",
            w.name,
            records,
            elapsed.as_secs_f64(),
            rate,
            w.bytes as f64 / 1e6 / elapsed.as_secs_f64(),
            rate / anchor_rate
        );
    }
    println!("anchor: serde_json::Value parse of a 230-byte ECS line: {anchor_rate:.0} lines/s");
}
