use super::*;

fn clock() -> Clock {
    Clock {
        received_at: Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap(),
        tz: None,
    }
}

fn at(value: &str) -> Option<String> {
    parse_any(value, &clock()).map(rfc3339)
}

#[test]
fn epoch_values_are_told_apart_by_magnitude() {
    assert_eq!(at("1700000000").as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(at("1700000000123").as_deref(), Some("2023-11-14T22:13:20.123Z"));
    assert_eq!(at("1700000000123456").as_deref(), Some("2023-11-14T22:13:20.123456Z"));
    assert_eq!(
        at("1700000000123456789").as_deref(),
        Some("2023-11-14T22:13:20.123456789Z")
    );
    assert_eq!(at("1700000000.5").as_deref(), Some("2023-11-14T22:13:20.500Z"));
    assert_eq!(at("99999999999999999999"), None);
}

#[test]
fn arcsight_dates_take_an_optional_year_fraction_and_zone() {
    assert_eq!(at("Nov 20 2026 10:00:00").as_deref(), Some("2026-11-20T10:00:00Z"));
    assert_eq!(
        at("Nov 20 2026 10:00:00.250").as_deref(),
        Some("2026-11-20T10:00:00.250Z")
    );
    assert_eq!(at("Nov 20 2026 10:00:00 UTC").as_deref(), Some("2026-11-20T10:00:00Z"));
    assert_eq!(
        at("Nov 20 2026 10:00:00.001 +0200").as_deref(),
        Some("2026-11-20T08:00:00.001Z")
    );
    assert_eq!(
        at("Nov 20 2026 10:00:00 Europe/Berlin").as_deref(),
        Some("2026-11-20T09:00:00Z")
    );
    assert_eq!(
        at("Jul 01 2026 10:00:00 Europe/Berlin").as_deref(),
        Some("2026-07-01T08:00:00Z")
    );
    assert_eq!(at("Nov 20 2026 10:00:00 Mars/Olympus"), None);
}

#[test]
fn a_missing_year_is_the_one_closest_to_the_receive_time() {
    assert_eq!(at("Nov 20 10:00:00").as_deref(), Some("2026-11-20T10:00:00Z"));
    let new_year = Clock {
        received_at: Utc.with_ymd_and_hms(2027, 1, 1, 0, 5, 0).unwrap(),
        tz: None,
    };
    assert_eq!(
        parse_any("Dec 31 23:59:00", &new_year).map(rfc3339).as_deref(),
        Some("2026-12-31T23:59:00Z")
    );
    assert_eq!(at("Nov  5 10:00:00").as_deref(), Some("2026-11-05T10:00:00Z"));
}

#[test]
fn a_zoneless_time_is_read_in_the_clock_zone() {
    let berlin = Clock {
        tz: Some(chrono_tz::Europe::Berlin),
        ..clock()
    };
    assert_eq!(
        parse_any("2026-11-20 10:00:00", &berlin).map(rfc3339).as_deref(),
        Some("2026-11-20T09:00:00Z")
    );
    assert_eq!(
        parse_any("2026-11-20T10:00:00Z", &berlin).map(rfc3339).as_deref(),
        Some("2026-11-20T10:00:00Z")
    );
}

#[test]
fn rfc3339_and_common_layouts_are_read() {
    assert_eq!(
        at("2026-11-20T10:00:00.123456+01:00").as_deref(),
        Some("2026-11-20T09:00:00.123456Z")
    );
    assert_eq!(at("2026/11/20 10:00:00").as_deref(), Some("2026-11-20T10:00:00Z"));
    assert_eq!(
        at("20/Nov/2026:10:00:00 -0500").as_deref(),
        Some("2026-11-20T15:00:00Z")
    );
    assert_eq!(at("Fri Nov 20 10:00:00 2026").as_deref(), Some("2026-11-20T10:00:00Z"));
    assert_eq!(at("2026-13-20 10:00:00"), None);
    assert_eq!(at("yesterday"), None);
}

#[test]
fn simple_date_format_patterns_cover_the_common_letters() {
    let c = clock();
    let read = |v: &str, p: &str| parse_with_format(v, p, &c).map(rfc3339);
    assert_eq!(
        read("2026-11-20T10:00:00.123+0100", "yyyy-MM-dd'T'HH:mm:ss.SSSZ").as_deref(),
        Some("2026-11-20T09:00:00.123Z")
    );
    assert_eq!(
        read("20/Nov/2026:10:00:00 +0000", "dd/MMM/yyyy:HH:mm:ss Z").as_deref(),
        Some("2026-11-20T10:00:00Z")
    );
    assert_eq!(
        read("11/20/26 03:04:05 PM", "MM/dd/yy hh:mm:ss a").as_deref(),
        Some("2026-11-20T15:04:05Z")
    );
    assert_eq!(
        read("20261120100000", "yyyyMMddHHmmss").as_deref(),
        Some("2026-11-20T10:00:00Z")
    );
    assert_eq!(
        read("It's 2026-11-20 10:00", "'It''s' yyyy-MM-dd HH:mm").as_deref(),
        Some("2026-11-20T10:00:00Z")
    );
    assert_eq!(read("2026-11-20", "yyyy-MM-dd GGG"), None);
    assert_eq!(read("2026-11-20 junk", "yyyy-MM-dd"), None);
}
