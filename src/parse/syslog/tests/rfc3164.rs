use chrono::DateTime;
use serde_json::json;

use super::{at, ctx, fields_of};
use crate::parse::ParseContext;
use crate::parse::syslog::{AsaTag, SyslogError, parse};

fn received(rfc3339: &str) -> ParseContext {
    ParseContext::new(at(rfc3339))
}

#[test]
fn an_rsyslog_sshd_line_yields_host_tag_pid_and_message() {
    let line = "<38>Nov 20 10:00:00 web01 sshd[812]: Accepted publickey for alice from 192.0.2.7 port 50122 ssh2";
    let parsed = parse(line, &ctx()).unwrap();
    assert_eq!(parsed.timestamp(), Some(at("2026-11-20T10:00:00Z")));
    assert_eq!(parsed.version(), None);
    assert_eq!(
        (parsed.hostname(), parsed.app_name(), parsed.proc_id()),
        (Some("web01"), Some("sshd"), Some("812"))
    );
    assert_eq!(
        parsed.msg(),
        "Accepted publickey for alice from 192.0.2.7 port 50122 ssh2"
    );
    let fields = fields_of(line);
    assert_eq!(fields["@timestamp"], json!("2026-11-20T10:00:00Z"));
    assert_eq!(fields["host.name"], json!("web01"));
    assert_eq!(fields["process.name"], json!("sshd"));
    assert_eq!(fields["process.pid"], json!(812));
    assert_eq!(fields.get("log.syslog.version"), None);
}

#[test]
fn a_tag_without_pid_ends_at_its_colon_and_the_message_loses_its_leading_spaces() {
    let line = "<85>Nov 20 10:01:12 web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls";
    let parsed = parse(line, &ctx()).unwrap();
    assert_eq!((parsed.app_name(), parsed.proc_id()), (Some("sudo"), None));
    assert_eq!(
        parsed.msg(),
        "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls"
    );
    assert_eq!(fields_of(line)["log.syslog.facility.name"], json!("authpriv"));
}

#[test]
fn a_single_digit_day_may_be_padded_with_a_space_or_not() {
    for line in [
        "<13>Nov  3 10:00:00 h app: x",
        "<13>Nov 3 10:00:00 h app: x",
        "<13>Nov 03 10:00:00 h app: x",
        "<13> Nov  3 10:00:00 h app: x",
    ] {
        assert_eq!(
            parse(line, &ctx()).unwrap().timestamp(),
            Some(at("2026-11-03T10:00:00Z")),
            "{line}"
        );
    }
}

#[test]
fn a_line_without_hostname_takes_its_first_word_as_the_tag() {
    let parsed = parse("<13>Nov 20 10:00:00 sshd[123]: Connection closed", &ctx()).unwrap();
    assert_eq!(
        (parsed.hostname(), parsed.app_name(), parsed.proc_id()),
        (None, Some("sshd"), Some("123"))
    );
    assert_eq!(parsed.msg(), "Connection closed");
}

#[test]
fn an_iso_timestamp_may_replace_the_bsd_one() {
    let parsed = parse(
        "<86>2026-11-20T10:00:00.250+01:00 web01 CRON[4411]: (root) CMD (run-parts /etc/cron.hourly)",
        &ctx(),
    )
    .unwrap();
    assert_eq!(parsed.timestamp(), Some(at("2026-11-20T09:00:00.250Z")));
    assert_eq!(
        (parsed.hostname(), parsed.app_name(), parsed.proc_id()),
        (Some("web01"), Some("CRON"), Some("4411"))
    );
    assert_eq!(parsed.version(), None);
    let bare = parse(
        "2026-11-20T10:00:00+0100 web01 kernel: [  123.456] eth0: link up",
        &ctx(),
    )
    .unwrap();
    assert_eq!(bare.timestamp(), Some(at("2026-11-20T09:00:00Z")));
    assert_eq!(
        (bare.priority(), bare.app_name(), bare.msg()),
        (None, Some("kernel"), "[  123.456] eth0: link up")
    );
}

#[test]
fn a_cisco_asa_tag_gives_facility_severity_and_message_id() {
    let line =
        "<166>Nov 20 2026 10:00:00: %ASA-4-106023: Deny tcp src outside:198.51.100.9/4431 dst inside:10.0.0.5/22";
    let parsed = parse(line, &ctx()).unwrap();
    assert_eq!(parsed.timestamp(), Some(at("2026-11-20T10:00:00Z")));
    assert_eq!(parsed.hostname(), None);
    assert_eq!(parsed.app_name(), Some("%ASA-4-106023"));
    assert_eq!(
        parsed.asa(),
        Some(AsaTag {
            facility: "ASA",
            severity: 4,
            message_id: "106023"
        })
    );
    assert_eq!(
        parsed.msg(),
        "Deny tcp src outside:198.51.100.9/4431 dst inside:10.0.0.5/22"
    );
    let fields = fields_of(line);
    assert_eq!(fields["cisco.asa.facility"], json!("ASA"));
    assert_eq!(fields["cisco.asa.severity"], json!(4));
    assert_eq!(fields["cisco.asa.message_id"], json!("106023"));
    // PRI says info (local4.info); the tag's digit says warning and wins.
    assert_eq!(fields["log.syslog.severity.name"], json!("info"));
    assert_eq!(fields["event.severity"], json!(5));
    assert_eq!(fields["tidemark.severity_original"], json!("warning"));
}

#[test]
fn a_cisco_asa_line_may_lack_a_timestamp_or_carry_a_device_id() {
    let bare = parse(
        "<166>%ASA-6-302013: Built outbound TCP connection 1 for outside:192.0.2.1/443",
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        (bare.timestamp(), bare.asa().map(|a| a.message_id)),
        (None, Some("302013"))
    );
    let named = parse(
        "<166>Nov 20 2026 10:00:00 fw01 : %ASA-6-302014: Teardown TCP connection 1",
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        (named.hostname(), named.asa().map(|a| a.severity)),
        (Some("fw01"), Some(6))
    );
    assert_eq!(named.msg(), "Teardown TCP connection 1");
    let other = parse("<166>%LINK-3-UPDOWN: Interface Gi0/1, changed state to down", &ctx()).unwrap();
    assert_eq!((other.app_name(), other.asa()), (Some("%LINK-3-UPDOWN"), None));
}

#[test]
fn a_line_without_timestamp_has_a_tag_or_only_a_message() {
    let tagged = parse("<13>sshd: message here", &ctx()).unwrap();
    assert_eq!(
        (tagged.timestamp(), tagged.hostname(), tagged.app_name(), tagged.msg()),
        (None, None, Some("sshd"), "message here")
    );
    let plain = parse("<13>just some words", &ctx()).unwrap();
    assert_eq!(
        (plain.hostname(), plain.app_name(), plain.msg()),
        (None, None, "just some words")
    );
}

#[test]
fn a_line_without_pri_must_start_with_a_timestamp() {
    let parsed = parse("Nov 20 10:00:00 host prog: msg", &ctx()).unwrap();
    assert_eq!(
        (parsed.priority(), parsed.hostname(), parsed.app_name(), parsed.msg()),
        (None, Some("host"), Some("prog"), "msg")
    );
    let fields = fields_of("Nov 20 10:00:00 host prog: msg");
    assert_eq!(
        (fields.get("log.syslog.priority"), fields.get("event.severity")),
        (None, None)
    );
    assert_eq!(parse("prog: msg", &ctx()).unwrap_err(), SyslogError::NoHeader(0));
}

#[test]
fn the_year_is_the_one_closest_to_reception() {
    let cases = [
        ("Dec 31 23:59:59", "2027-01-01T00:00:05Z", "2026-12-31T23:59:59Z"),
        ("Jan  1 00:00:01", "2026-12-31T23:59:00Z", "2027-01-01T00:00:01Z"),
        ("Jun 15 12:00:00", "2026-11-21T12:00:00Z", "2026-06-15T12:00:00Z"),
        ("Feb 29 08:00:00", "2028-01-10T00:00:00Z", "2028-02-29T08:00:00Z"),
        ("Feb 29 08:00:00", "2028-12-30T00:00:00Z", "2028-02-29T08:00:00Z"),
    ];
    for (stamp, when, expected) in cases {
        let line = format!("<13>{stamp} h app: x");
        let parsed = parse(&line, &received(when)).unwrap();
        assert_eq!(parsed.timestamp(), Some(at(expected)), "{stamp} received {when}");
    }
    let no_leap_year_near = received("2026-11-21T00:00:00Z");
    assert_eq!(
        parse("<13>Feb 29 08:00:00 h app: x", &no_leap_year_near).unwrap_err(),
        SyslogError::Timestamp(4)
    );
}

#[test]
fn a_zoneless_bsd_timestamp_is_read_in_the_context_zone_and_its_year_there() {
    let mut context = received("2026-12-31T23:30:00Z");
    context.tz = Some(chrono_tz::Asia::Tokyo);
    // Already Jan 1 2027 in Tokyo: a Jan 1 line belongs to 2027.
    let parsed = parse("<13>Jan  1 08:00:00 h app: x", &context).unwrap();
    assert_eq!(parsed.timestamp(), Some(at("2026-12-31T23:00:00Z")));
    let mut context = received("2026-06-01T00:00:00Z");
    context.tz = Some(chrono_tz::Europe::Berlin);
    // 02:30 does not exist on Mar 29 (clocks jump from 02:00 to 03:00) and happens twice on Oct 25.
    let gap = parse("<13>Mar 29 02:30:00 h app: x", &context).unwrap();
    assert_eq!(gap.timestamp(), Some(at("2026-03-29T01:30:00Z")));
    let twice = parse("<13>Oct 25 02:30:00 h app: x", &context).unwrap();
    assert_eq!(twice.timestamp(), Some(at("2026-10-25T00:30:00Z")));
}

#[test]
fn fractional_bsd_seconds_are_kept_to_the_microsecond() {
    let parsed = parse("<13>Nov 20 10:00:00.1234567 h app: x", &ctx()).unwrap();
    assert_eq!(parsed.timestamp(), DateTime::from_timestamp(1_795_168_800, 123_456_000));
}

#[test]
fn a_tag_without_colon_counts_only_with_a_pid() {
    let with_pid = parse("<13>Nov 20 10:00:00 h postfix/smtpd[991] connect from unknown", &ctx()).unwrap();
    assert_eq!(
        (with_pid.app_name(), with_pid.proc_id(), with_pid.msg()),
        (Some("postfix/smtpd"), Some("991"), "connect from unknown")
    );
    let without = parse("<13>Nov 20 10:00:00 h -- MARK --", &ctx()).unwrap();
    assert_eq!(
        (without.hostname(), without.app_name(), without.msg()),
        (Some("h"), None, "-- MARK --")
    );
    let ipv6 = parse("<13>Nov 20 10:00:00 fe80:: app: x", &ctx()).unwrap();
    assert_eq!((ipv6.hostname(), ipv6.app_name()), (Some("fe80::"), Some("app")));
}

#[test]
fn a_cef_payload_after_the_header_is_left_whole_in_the_message() {
    let line = "<134>Nov 20 10:00:00 ids01 CEF:0|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1";
    let parsed = parse(line, &ctx()).unwrap();
    assert_eq!((parsed.hostname(), parsed.app_name()), (Some("ids01"), None));
    assert_eq!(
        parsed.msg(),
        "CEF:0|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1"
    );
    let no_header = parse("<134>CEF:0|Security|threatmanager|1.0|100|worm stopped|10|", &ctx()).unwrap();
    assert!(no_header.msg().starts_with("CEF:0|"));
}
