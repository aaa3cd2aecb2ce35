//! Fuzzes `parse::kv`: no UTF-8 text may panic, every error points inside the text, and a
//! parsed line has at least two pairs with non-empty keys and writes its fields.

#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tidemark::parse::{Fields, ParseContext, kv};

fuzz_target!(|text: &str| {
    let ctx = ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap());
    match kv::parse(text, &ctx) {
        Ok(line) => {
            assert!(line.pairs.len() >= 2, "{line:?}");
            assert!(line.pairs.iter().all(|(k, _)| !k.is_empty()), "{line:?}");
            let mut out = Fields::new();
            line.write_fields(&mut out);
        }
        Err(error) => assert!(error.offset() <= text.len(), "{error} for {text:?}"),
    }
});
