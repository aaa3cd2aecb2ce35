//! Fuzzes `parse::cef`: no UTF-8 text may panic, every error points inside the text, and a
//! parsed record has non-empty extension keys and writes its fields.

#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tidemark::parse::{Fields, ParseContext, cef};

fuzz_target!(|text: &str| {
    let ctx = ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap());
    match cef::parse(text, &ctx) {
        Ok(record) => {
            assert!(record.extensions.iter().all(|(k, _)| !k.is_empty()), "{record:?}");
            let mut out = Fields::new();
            record.write_fields(&mut out);
            assert!(out.contains_key("cef.version"), "{out:?} from {text:?}");
        }
        Err(error) => assert!(error.offset() <= text.len(), "{error} for {text:?}"),
    }
});
