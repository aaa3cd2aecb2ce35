//! Fuzzes `parse::ioc::extract`: no UTF-8 text may panic, and every IoC it reports is
//! non-empty and unique by (kind, value).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark::parse::ioc::extract;

fuzz_target!(|text: &str| {
    let found = extract(text);
    for (i, ioc) in found.iter().enumerate() {
        assert!(!ioc.value.is_empty(), "{ioc:?} in {text:?}");
        let repeated = found[..i]
            .iter()
            .any(|earlier| earlier.kind == ioc.kind && earlier.value == ioc.value);
        assert!(!repeated, "{ioc:?} twice in {text:?}");
    }
});
