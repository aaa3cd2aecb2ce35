//! Property tests: an RFC 5424 writer round-trips through the parser, BSD year inference
//! finds the right year near reception, and no input makes the parser panic.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use proptest::prelude::*;

use super::ctx;
use crate::parse::syslog::parse;
use crate::parse::{Fields, ParseContext};

type Sd = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone)]
struct Record {
    priority: u8,
    time: Option<DateTime<FixedOffset>>,
    hostname: Option<String>,
    app_name: Option<String>,
    proc_id: Option<String>,
    msg_id: Option<String>,
    sd: Sd,
    bom: bool,
    msg: String,
}

/// Formats `record` as RFC 5424 text, escaping `"`, `\` and `]` in parameter values.
fn write_rfc5424(record: &Record) -> String {
    let nil = |field: &Option<String>| field.clone().unwrap_or_else(|| "-".to_owned());
    let time = record
        .time
        .map_or("-".to_owned(), |t| t.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string());
    let mut sd = String::new();
    for (id, params) in &record.sd {
        sd.push('[');
        sd.push_str(id);
        for (name, value) in params {
            let escaped = value.replace('\\', r"\\").replace('"', r#"\""#).replace(']', r"\]");
            sd.push_str(&format!(" {name}=\"{escaped}\""));
        }
        sd.push(']');
    }
    if sd.is_empty() {
        sd.push('-');
    }
    let bom = if record.bom { "\u{feff}" } else { "" };
    format!(
        "<{}>1 {time} {} {} {} {} {sd} {bom}{}",
        record.priority,
        nil(&record.hostname),
        nil(&record.app_name),
        nil(&record.proc_id),
        nil(&record.msg_id),
        record.msg
    )
}

fn header_field(max: usize) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        proptest::string::string_regex(&format!("[!-~]{{1,{max}}}"))
            .unwrap()
            .prop_filter("NILVALUE", |s| s != "-"),
    )
}

fn sd_name() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[!-~&&[^= \]"]]{1,32}"#).unwrap()
}

fn time() -> impl Strategy<Value = Option<DateTime<FixedOffset>>> {
    let instant = (0i64..4_102_444_800, 0u32..1_000_000, -14 * 60..=14 * 60i32);
    proptest::option::of(instant.prop_map(|(secs, micros, minutes)| {
        let utc = DateTime::from_timestamp(secs, micros * 1000).unwrap();
        utc.with_timezone(&FixedOffset::east_opt(minutes * 60).unwrap())
    }))
}

fn record() -> impl Strategy<Value = Record> {
    let value = proptest::string::string_regex(r#"(\PC|["\\\]]){0,24}"#).unwrap();
    let sd = proptest::collection::btree_map(sd_name(), proptest::collection::btree_map(sd_name(), value, 0..4), 0..4);
    let header = (
        0u8..=191,
        time(),
        header_field(255),
        header_field(48),
        header_field(128),
        header_field(32),
    );
    (header, sd, any::<bool>(), r"\PC{0,60}").prop_map(
        |((priority, time, hostname, app_name, proc_id, msg_id), sd, bom, msg)| Record {
            priority,
            time,
            hostname,
            app_name,
            proc_id,
            msg_id,
            sd,
            bom,
            msg,
        },
    )
}

proptest! {
    #[test]
    fn rfc5424_lines_from_the_writer_parse_back_to_what_was_written(record in record()) {
        let line = write_rfc5424(&record);
        let parsed = parse(&line, &ctx()).map_err(|e| TestCaseError::fail(format!("{line:?}: {e}")))?;
        prop_assert_eq!(parsed.priority(), Some(record.priority));
        prop_assert_eq!(parsed.timestamp(), record.time.map(|t| t.to_utc()));
        prop_assert_eq!(parsed.hostname(), record.hostname.as_deref());
        prop_assert_eq!(parsed.app_name(), record.app_name.as_deref());
        prop_assert_eq!(parsed.proc_id(), record.proc_id.as_deref());
        prop_assert_eq!(parsed.msg_id(), record.msg_id.as_deref());
        prop_assert_eq!(parsed.msg(), record.msg.as_str());
        let sd: Sd = parsed
            .structured_data()
            .into_iter()
            .map(|e| (e.id().to_owned(), e.params().map(|p| (p.name().to_owned(), p.value().into_owned())).collect()))
            .collect();
        prop_assert_eq!(&sd, &record.sd);

        let mut fields = Fields::new();
        parsed.write_fields(&mut fields);
        for (id, params) in &record.sd {
            for (name, value) in params {
                let key = format!("log.syslog.structured_data.{id}.{name}");
                prop_assert_eq!(fields.get(&key).and_then(|v| v.as_str()), Some(value.as_str()), "{}", key);
            }
        }
    }

    #[test]
    fn a_bsd_timestamp_within_half_a_year_of_reception_resolves_to_its_own_year(
        received in 946_684_800i64..4_102_444_800,
        offset in -180 * 86_400i64..180 * 86_400,
    ) {
        let received = DateTime::from_timestamp(received, 0).unwrap();
        let sent: DateTime<Utc> = received + TimeDelta::seconds(offset);
        let line = format!("<13>{} host app: x", sent.format("%b %e %H:%M:%S"));
        let parsed = parse(&line, &ParseContext::new(received)).map_err(|e| TestCaseError::fail(format!("{line:?}: {e}")))?;
        prop_assert_eq!(parsed.timestamp(), Some(sent));
    }

    #[test]
    fn no_text_makes_the_parser_panic(line in r"(\PC|[<>\[\]:= \x{feff}\x{0}-]){0,80}") {
        match parse(&line, &ctx()) {
            Ok(parsed) => parsed.write_fields(&mut Fields::new()),
            Err(e) => prop_assert!(e.offset() <= line.len()),
        }
    }

    #[test]
    fn no_syslog_shaped_text_makes_the_parser_panic(
        head in r"(<[0-9]{1,4}>)?(1 )?([A-Z][a-z]{2} [ 0-9][0-9] |20[0-9]{2}-[01][0-9]-[0-3][0-9]T)?",
        tail in r"(\PC|[ :\[\]\x{22}\\=.+-]){0,60}",
    ) {
        let line = format!("{head}{tail}");
        match parse(&line, &ctx()) {
            Ok(parsed) => parsed.write_fields(&mut Fields::new()),
            Err(e) => prop_assert!(e.offset() <= line.len()),
        }
    }
}
