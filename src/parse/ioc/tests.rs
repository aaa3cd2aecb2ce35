//! Behaviour of `extract` and `extract_fields` on whole texts.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn kinds_and_values(text: &str) -> Vec<(IocKind, String)> {
    extract(text).into_iter().map(|ioc| (ioc.kind, ioc.value)).collect()
}

fn one(text: &str) -> Ioc {
    let found = extract(text);
    assert_eq!(found.len(), 1, "{text}: {found:?}");
    found.into_iter().next().unwrap()
}

fn ioc(kind: IocKind, value: &str, private: bool) -> Ioc {
    Ioc {
        kind,
        value: value.into(),
        private,
    }
}

const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";
const SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

#[test]
fn an_ipv4_address_is_found_in_canonical_form() {
    assert_eq!(one("conn from 8.8.4.4 refused"), ioc(IocKind::Ipv4, "8.8.4.4", false));
    assert_eq!(one("src=010.001.002.003;"), ioc(IocKind::Ipv4, "10.1.2.3", true));
}

#[test]
fn an_ipv4_address_with_a_port_or_prefix_length_is_found() {
    assert_eq!(
        kinds_and_values("8.8.8.8:53 and 1.1.1.0/24"),
        [(IocKind::Ipv4, "8.8.8.8".into()), (IocKind::Ipv4, "1.1.1.0".into())]
    );
}

#[test]
fn version_numbers_and_longer_digit_runs_are_not_ipv4() {
    for text in [
        "version 1.2.3.4.5",
        "v1.2.3.4",
        "1.2.3.4a",
        "1.2.3",
        "999.1.1.1",
        "build 2.3.4.5678",
    ] {
        assert_eq!(extract(text), [], "{text}");
    }
}

#[test]
fn an_ipv4_range_yields_both_ends() {
    assert_eq!(
        kinds_and_values("block 45.1.1.1-45.1.1.9"),
        [(IocKind::Ipv4, "45.1.1.1".into()), (IocKind::Ipv4, "45.1.1.9".into())]
    );
}

#[test]
fn ipv6_addresses_are_found_in_full_compressed_and_embedded_ipv4_forms() {
    assert_eq!(
        one("to 2606:4700:0000:0000:0000:0000:0000:1111 ok").value,
        "2606:4700::1111"
    );
    assert_eq!(one("to 2606:4700::1111.").value, "2606:4700::1111");
    assert_eq!(one("[2a00:1450::200e]:443").value, "2a00:1450::200e");
    assert_eq!(one("::FFFF:8.8.8.8"), ioc(IocKind::Ipv6, "::ffff:8.8.8.8", false));
    assert_eq!(one("fe80::1%eth0 up"), ioc(IocKind::Ipv6, "fe80::1", true));
}

#[test]
fn mac_addresses_and_times_are_not_ipv6() {
    for text in [
        "at 10:00:00 the",
        "mac 00:1a:2b:3c:4d:5e",
        "00-1A-2B-3C-4D-5E",
        "12:30",
        "std::io::Error",
    ] {
        assert_eq!(extract(text), [], "{text}");
    }
}

#[test]
fn a_domain_is_found_lowercased_with_sentence_punctuation_dropped() {
    assert_eq!(
        one("beacon to Update.Evil-Corp.COM."),
        ioc(IocKind::Domain, "update.evil-corp.com", false)
    );
    assert_eq!(one("(see evil.co.uk)").value, "evil.co.uk");
}

#[test]
fn file_names_are_not_domains_under_the_invoice_pdf_rule() {
    let text = "opened invoice.pdf, ran setup.exe, read readme.txt and a.b";
    assert_eq!(extract(text), []);
}

#[test]
fn bare_two_label_names_under_file_extension_tlds_are_not_domains() {
    assert_eq!(extract("unpacked payload.zip then clip.mov, README.md"), []);
}

#[test]
fn file_extension_tlds_count_with_a_scheme_an_at_sign_or_a_third_label() {
    assert_eq!(
        kinds_and_values("https://payload.zip/x bob@mail.zip cdn.payload.zip"),
        [
            (IocKind::Url, "https://payload.zip/x".into()),
            (IocKind::Email, "bob@mail.zip".into()),
            (IocKind::Domain, "cdn.payload.zip".into())
        ]
    );
}

#[test]
fn a_url_is_found_with_its_path_and_without_trailing_punctuation() {
    let found = extract("Download from (HTTPS://Evil.com/a/b.php?id=1), then run it.");
    assert_eq!(found, [ioc(IocKind::Url, "https://evil.com/a/b.php?id=1", false)]);
}

#[test]
fn urls_with_every_scheme_are_found() {
    let text = "http://a.com/1 https://a.com/2 ftp://a.com/3 hxxp://a.com/4 hxxps://a.com/5 fxp://a.com/6";
    let values: Vec<String> = extract(text).into_iter().map(|ioc| ioc.value).collect();
    assert_eq!(
        values,
        [
            "http://a.com/1",
            "https://a.com/2",
            "ftp://a.com/3",
            "http://a.com/4",
            "https://a.com/5",
            "ftp://a.com/6"
        ]
    );
}

#[test]
fn a_url_after_a_label_and_colon_is_found() {
    assert_eq!(one("URL:http://evil.com/x").value, "http://evil.com/x");
    assert_eq!(one("href=\"http://evil.com/x\">").value, "http://evil.com/x");
}

#[test]
fn a_url_host_is_not_reported_again_unless_it_appears_on_its_own() {
    assert_eq!(
        kinds_and_values("http://evil.com/a http://8.8.8.8/b"),
        [
            (IocKind::Url, "http://evil.com/a".into()),
            (IocKind::Url, "http://8.8.8.8/b".into())
        ]
    );
    assert_eq!(
        kinds_and_values("http://evil.com/a and evil.com"),
        [
            (IocKind::Url, "http://evil.com/a".into()),
            (IocKind::Domain, "evil.com".into())
        ]
    );
}

#[test]
fn urls_and_emails_at_reserved_addresses_are_flagged_private() {
    assert_eq!(
        one("http://192.168.1.5:8080/admin"),
        ioc(IocKind::Url, "http://192.168.1.5:8080/admin", true)
    );
    assert_eq!(one("http://[::1]/"), ioc(IocKind::Url, "http://[::1]/", true));
    assert_eq!(one("root@[10.0.0.1]"), ioc(IocKind::Email, "root@[10.0.0.1]", true));
    assert_eq!(one("root@8.8.8.8"), ioc(IocKind::Email, "root@[8.8.8.8]", false));
}

#[test]
fn an_email_is_found_lowercased_and_its_domain_is_not_reported_again() {
    assert_eq!(
        one("From: <John.Doe@Evil.COM>"),
        ioc(IocKind::Email, "john.doe@evil.com", false)
    );
    assert_eq!(one("mailto:bob@evil.com?subject=x").value, "bob@evil.com");
}

#[test]
fn md5_sha1_and_sha256_hashes_are_found_lowercased() {
    let text = format!("md5={} sha1:{} SHA256 {}", MD5.to_uppercase(), SHA1, SHA256);
    assert_eq!(
        kinds_and_values(&text),
        [
            (IocKind::Md5, MD5.into()),
            (IocKind::Sha1, SHA1.into()),
            (IocKind::Sha256, SHA256.into())
        ]
    );
}

#[test]
fn hashes_inside_longer_hex_or_identifiers_are_not_found() {
    for text in [
        format!("{MD5}a"),
        format!("a{MD5}"),
        format!("x_{MD5}"),
        format!("{SHA256}{MD5}"),
    ] {
        assert_eq!(extract(&text), [], "{text}");
    }
}

#[test]
fn a_hash_named_file_yields_its_hash() {
    assert_eq!(
        one(&format!("dropped {SHA256}.exe")),
        ioc(IocKind::Sha256, SHA256, false)
    );
}

#[test]
fn zero_and_same_character_hashes_are_ignored() {
    let text = format!("{} {} {}", "0".repeat(32), "a".repeat(40), "F".repeat(64));
    assert_eq!(extract(&text), []);
}

#[test]
fn cve_ids_are_found_in_any_case_and_uppercased() {
    assert_eq!(
        kinds_and_values("cve-2021-44228, CVE-2014-0160-poc.py and Cve-2019-1234567"),
        [
            (IocKind::Cve, "CVE-2021-44228".into()),
            (IocKind::Cve, "CVE-2014-0160".into()),
            (IocKind::Cve, "CVE-2019-1234567".into())
        ]
    );
    assert_eq!(extract("CVE-2021-123 and CVE-21-44228"), []);
}

#[test]
fn every_dot_marker_is_refanged() {
    for dot in ["[.]", "(.)", "{.}", "[dot]", "(dot)", "[DOT]"] {
        assert_eq!(one(&format!("c2 evil{dot}com")).value, "evil.com", "{dot}");
        assert_eq!(one(&format!("8{dot}8{dot}4{dot}4")).value, "8.8.4.4", "{dot}");
    }
}

#[test]
fn every_at_marker_is_refanged() {
    for at in ["[at]", "(at)", "[@]", "[AT]"] {
        assert_eq!(one(&format!("bob{at}evil[.]com")).value, "bob@evil.com", "{at}");
    }
}

#[test]
fn defanged_schemes_and_colons_are_refanged() {
    for text in [
        "hxxp://evil[.]com/x",
        "hXXp://evil.com/x",
        "http[:]//evil.com/x",
        "hxxp[://]evil.com/x",
    ] {
        assert_eq!(one(text).value, "http://evil.com/x", "{text}");
    }
    assert_eq!(one("hXXps[:]//evil(.)com").value, "https://evil.com");
    assert_eq!(one("fxp://evil.com/f").value, "ftp://evil.com/f");
}

#[test]
fn duplicates_are_removed_and_first_appearance_order_is_kept() {
    let text = "evil.com 8.8.8.8 EVIL.com evil[.]com 8.8.8.8 CVE-2021-44228 cve-2021-44228 1.1.1.1";
    assert_eq!(
        kinds_and_values(text),
        [
            (IocKind::Domain, "evil.com".into()),
            (IocKind::Ipv4, "8.8.8.8".into()),
            (IocKind::Cve, "CVE-2021-44228".into()),
            (IocKind::Ipv4, "1.1.1.1".into())
        ]
    );
}

#[test]
fn the_same_value_of_different_kinds_is_kept_once_per_kind() {
    let found = kinds_and_values("http://evil.com evil.com");
    assert_eq!(
        found,
        [
            (IocKind::Url, "http://evil.com".into()),
            (IocKind::Domain, "evil.com".into())
        ]
    );
}

#[test]
fn every_reserved_ipv4_range_is_flagged_private_and_public_addresses_are_not() {
    let text = "10.1.1.1 172.16.0.1 172.31.255.255 192.168.0.1 127.0.0.1 169.254.1.1 100.64.0.1 0.0.0.0 \
                192.0.2.1 198.51.100.1 203.0.113.1 224.0.0.1 240.0.0.1 255.255.255.255 8.8.8.8 172.32.0.1";
    let flags: Vec<bool> = extract(text).iter().map(|ioc| ioc.private).collect();
    assert_eq!(
        flags,
        [
            true, true, true, true, true, true, true, true, true, true, true, true, true, true, false, false
        ]
    );
}

#[test]
fn every_reserved_ipv6_range_is_flagged_private_and_public_addresses_are_not() {
    let text = "::1 :: fc00::1 fd12::1 fe80::1 ff02::1 2001:db8::1 ::ffff:192.168.0.1 2606:4700::1 ::ffff:8.8.8.8";
    let flags: Vec<bool> = extract(text).iter().map(|ioc| ioc.private).collect();
    assert_eq!(flags, [true, true, true, true, true, true, true, true, false, false]);
}

#[test]
fn domains_hashes_and_cves_are_never_private() {
    let text = format!("evil.com {MD5} CVE-2021-44228");
    assert!(extract(&text).iter().all(|ioc| !ioc.private));
}

#[test]
fn names_touching_non_ascii_letters_are_skipped_but_addresses_are_not() {
    assert_eq!(extract("bücher.de"), []);
    assert_eq!(
        kinds_and_values("地址8.8.8.8端口 «evil.com»"),
        [(IocKind::Ipv4, "8.8.8.8".into()), (IocKind::Domain, "evil.com".into())]
    );
}

#[test]
fn fields_are_searched_through_arrays_and_deduplicated_across_fields() {
    let fields: Fields = json!({
        "a.message": "beacon to evil.com from 10.0.0.5",
        "b.hosts": ["evil.com", ["8.8.8.8", 3], {"deep": "CVE-2021-44228"}],
        "c.count": 3,
        "d.flag": true,
        "e.none": null,
    })
    .as_object()
    .unwrap()
    .clone();
    assert_eq!(
        extract_fields(&fields),
        [
            ioc(IocKind::Domain, "evil.com", false),
            ioc(IocKind::Ipv4, "10.0.0.5", true),
            ioc(IocKind::Ipv4, "8.8.8.8", false),
            ioc(IocKind::Cve, "CVE-2021-44228", false),
        ]
    );
}

#[test]
fn kinds_serialize_in_snake_case() {
    let json = serde_json::to_value(ioc(IocKind::Sha256, "x", false)).unwrap();
    assert_eq!(json, json!({"kind": "sha256", "value": "x", "private": false}));
}

#[test]
fn hostile_inputs_do_not_panic() {
    let long_word = "a.".repeat(100_000);
    let brackets = "[(({[".repeat(10_000);
    let urls = "http://".repeat(10_000);
    for text in [
        "",
        "[",
        "@[",
        "a@[",
        "http://[",
        "http://[::1",
        "hxxp",
        "CVE-",
        "::",
        ":::::",
        "é@[ü]",
        "http://é.com/ü",
        long_word.as_str(),
        brackets.as_str(),
        urls.as_str(),
    ] {
        let _ = extract(text);
    }
}

fn noise() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[!-~]{0,12}", 0..6)
}

fn hash_hex() -> impl Strategy<Value = String> {
    prop_oneof![Just(32usize), Just(40), Just(64)]
        .prop_flat_map(|len| prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF".to_vec()), len))
        .prop_map(|bytes| String::from_utf8(bytes).unwrap())
        .prop_filter("a hash has a letter and two distinct characters", |hash| {
            hash.bytes().any(|b| b.is_ascii_alphabetic())
                && hash.bytes().any(|b| !b.eq_ignore_ascii_case(&hash.as_bytes()[0]))
        })
}

/// Noise words, the IoC text, more noise words, joined by single spaces.
fn embed(before: &[String], ioc: &str, after: &[String]) -> String {
    before
        .iter()
        .map(String::as_str)
        .chain([ioc])
        .chain(after.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fragments that steer the scanner into its less common paths.
const MARKER_SOUP: [&str; 18] = [
    "[", "]", "(", ")", "@", "@[", ":", ".", "/", "-", "hxxp", "http://", "[.]", "[at]", "::", "%", "é", " ",
];

#[test]
fn an_address_literal_never_spans_white_space() {
    let found = extract("@[ 0000000000000000000000000000000a ]");
    assert!(
        found
            .iter()
            .any(|ioc| ioc.kind == IocKind::Md5 && ioc.value == "0000000000000000000000000000000a"),
        "{found:?}"
    );
}

proptest! {
    #[test]
    fn random_ipv4_in_ascii_noise_is_always_found(ip: std::net::Ipv4Addr, before in noise(), after in noise()) {
        let found = extract(&embed(&before, &ip.to_string(), &after));
        prop_assert!(found.iter().any(|ioc| ioc.kind == IocKind::Ipv4 && ioc.value == ip.to_string()), "{found:?}");
    }

    #[test]
    fn random_ipv6_in_ascii_noise_is_always_found(ip: std::net::Ipv6Addr, full: bool, before in noise(), after in noise()) {
        let text = if full {
            ip.segments().map(|s| format!("{s:04x}")).join(":")
        } else {
            ip.to_string()
        };
        let found = extract(&embed(&before, &text, &after));
        prop_assert!(found.iter().any(|ioc| ioc.kind == IocKind::Ipv6 && ioc.value == ip.to_string()), "{found:?}");
    }

    #[test]
    fn random_hashes_in_ascii_noise_are_always_found(hash in hash_hex(), before in noise(), after in noise()) {
        let found = extract(&embed(&before, &hash, &after));
        let lower = hash.to_ascii_lowercase();
        prop_assert!(found.iter().any(|ioc| ioc.value == lower), "{found:?}");
    }

    #[test]
    fn extract_never_panics_on_arbitrary_strings(text in "\\PC*") {
        let _ = extract(&text);
    }

    #[test]
    fn extract_never_panics_on_ascii_soup_rich_in_markers(
        parts in prop::collection::vec(
            prop_oneof![
                prop::sample::select(MARKER_SOUP.as_slice()).prop_map(str::to_owned),
                "[0-9a-fA-F]{1,8}",
                "[a-z]{1,5}",
            ],
            0..40,
        )
    ) {
        let _ = extract(&parts.concat());
    }
}
