//! Fuzzes `parse::stix` and `looks_like_stix`: no UTF-8 document may panic, and every record's
//! span is a slice of the document holding one JSON object.

#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tidemark::parse::{ParseContext, stix};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap());
    let _ = stix::looks_like_stix(doc);
    if let Ok(records) = stix::parse(doc, &ctx) {
        for record in records {
            let raw = doc
                .get(record.span.clone())
                .unwrap_or_else(|| panic!("span {:?} of {doc:?}", record.span));
            assert!(raw.starts_with('{') && raw.ends_with('}'), "{raw:?}");
            assert!(record.fields.contains_key("stix.type"));
        }
    }
});
