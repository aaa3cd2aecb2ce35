//! Fuzzes `parse::csv`: no UTF-8 document may panic, every error points inside the document,
//! and every record's span is a non-empty slice of it.

#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tidemark::parse::{ParseContext, csv};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap());
    match csv::parse(doc, &ctx) {
        Ok(records) => {
            for record in records {
                let raw = doc.get(record.span.clone());
                assert!(raw.is_some_and(|r| !r.is_empty()), "span {:?} of {doc:?}", record.span);
                assert!(!record.fields.is_empty());
            }
        }
        Err(error) => assert!(error.offset() <= doc.len(), "{error} for {doc:?}"),
    }
});
