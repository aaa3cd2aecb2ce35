//! Fuzzes `parse::syslog`: no UTF-8 input may panic, every error points inside the line, and
//! every parsed line writes its fields.

#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tidemark::parse::{Fields, ParseContext, syslog};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap());
    match syslog::parse(line, &ctx) {
        Ok(parsed) => {
            let mut fields = Fields::new();
            parsed.write_fields(&mut fields);
            assert!(parsed.msg().len() <= line.len());
        }
        Err(error) => assert!(error.offset() <= line.len(), "{error} for {line:?}"),
    }
});
