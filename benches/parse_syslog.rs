//! Syslog parsing throughput: Tidemark's `parse::syslog::parse` against `syslog_loose` on the
//! same generated lines (RFC 3164 sshd, sudo, cron and kernel lines, RFC 5424 lines with
//! structured data, Cisco ASA). Both sides consume the same parts of their result through
//! `black_box`. Run with `cargo bench --bench parse_syslog`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use syslog_loose::{Message, ProcId, Variant};
use tidemark::parse::syslog::{self, Syslog};
use tidemark::parse::{Fields, ParseContext};

const LINES: usize = 200_000;
const PASSES: usize = 9;

fn main() {
    let lines = generate(LINES);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let received = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let ctx = ParseContext::new(received);
    println!("{} lines, {:.1} MB", lines.len(), bytes as f64 / 1e6);
    compare_fields(&lines, &ctx);

    let (mut ours, mut loose, mut full) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PASSES {
        ours.push(time(|| lines.iter().for_each(|l| consume_ours(syslog::parse(l, &ctx)))));
        loose.push(time(|| {
            lines
                .iter()
                .for_each(|l| consume_loose(syslog_loose::parse_message(l, Variant::Either)))
        }));
        full.push(time(|| {
            for line in &lines {
                let mut fields = Fields::new();
                if let Ok(parsed) = syslog::parse(line, &ctx) {
                    parsed.write_fields(&mut fields);
                }
                black_box(fields);
            }
        }));
    }
    let ours = report("tidemark parse", &mut ours, lines.len(), bytes);
    let loose = report("syslog_loose parse_message", &mut loose, lines.len(), bytes);
    report("tidemark parse + write_fields", &mut full, lines.len(), bytes);
    println!(
        "ratio tidemark/syslog_loose (lines/s): best {:.2}x, median {:.2}x",
        loose.0 / ours.0,
        loose.1 / ours.1
    );
}

/// Reads what both parsers extract: timestamp, hostname, app name, procid (as a number when it
/// is one), msgid, every structured-data id, name and (still escaped) value, and the message.
fn consume_ours(result: Result<Syslog<'_>, syslog::SyslogError>) {
    let Ok(s) = result else {
        black_box(result.err());
        return;
    };
    black_box((
        s.priority(),
        s.timestamp(),
        s.hostname(),
        s.app_name(),
        s.msg_id(),
        s.msg(),
    ));
    black_box(s.proc_id().map(|p| p.parse::<i32>().map_err(|_| p)));
    for element in s.structured_data() {
        black_box(element.id());
        for param in element.params() {
            black_box((param.name(), param.raw_value()));
        }
    }
}

fn consume_loose(m: Message<&str>) {
    black_box((
        m.facility,
        m.severity,
        m.timestamp,
        m.hostname,
        m.appname,
        m.msgid,
        m.msg,
    ));
    black_box(&m.procid);
    for element in &m.structured_data {
        black_box(element.id);
        for param in &element.params {
            black_box(param);
        }
    }
    black_box(m);
}

/// Counts, per field, the lines where syslog_loose found a value and Tidemark did not.
fn compare_fields(lines: &[String], ctx: &ParseContext) {
    let mut missing = [0usize; 7];
    let mut errors = 0;
    for line in lines {
        let theirs = syslog_loose::parse_message(line, Variant::Either);
        let Ok(ours) = syslog::parse(line, ctx) else {
            errors += 1;
            continue;
        };
        let procid = theirs.procid.as_ref().map(|p| match p {
            ProcId::PID(pid) => pid.to_string(),
            ProcId::Name(name) => name.to_string(),
        });
        let pairs = [
            (theirs.timestamp.is_some(), ours.timestamp().is_some()),
            // syslog_loose reads a Cisco tag with no hostname before it as the hostname.
            (
                theirs.hostname.is_some(),
                ours.hostname().is_some() || ours.app_name() == theirs.hostname,
            ),
            (theirs.appname.is_some(), ours.app_name().is_some()),
            (procid.is_some(), ours.proc_id().is_some()),
            (theirs.msgid.is_some(), ours.msg_id().is_some()),
            (!theirs.structured_data.is_empty(), !ours.structured_data().is_empty()),
            (!theirs.msg.is_empty(), !ours.msg().is_empty()),
        ];
        for (i, (they, we)) in pairs.into_iter().enumerate() {
            missing[i] += usize::from(they && !we);
        }
    }
    let names = [
        "timestamp",
        "hostname",
        "appname",
        "procid",
        "msgid",
        "structured data",
        "msg",
    ];
    let gaps: Vec<String> = names
        .iter()
        .zip(missing)
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| format!("{f}: {n}"))
        .collect();
    println!(
        "fields syslog_loose found and tidemark did not: {}; tidemark parse errors: {errors}",
        if gaps.is_empty() {
            "none".to_owned()
        } else {
            gaps.join(", ")
        }
    );
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Prints best and median throughput; returns (best, median) seconds per pass.
fn report(name: &str, passes: &mut [Duration], lines: usize, bytes: usize) -> (f64, f64) {
    passes.sort_unstable();
    let best = passes[0].as_secs_f64();
    let median = passes[passes.len() / 2].as_secs_f64();
    println!(
        "{name:32} best {:>10.0} lines/s {:>7.1} MB/s | median {:>10.0} lines/s {:>7.1} MB/s",
        lines as f64 / best,
        bytes as f64 / best / 1e6,
        lines as f64 / median,
        bytes as f64 / median / 1e6
    );
    (best, median)
}

/// A small deterministic generator (xorshift), so every run parses the same lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const HOSTS: [&str; 6] = [
    "web01",
    "web02",
    "db01.prod.example.com",
    "bastion",
    "k8s-node-7",
    "mail",
];
const USERS: [&str; 5] = ["alice", "bob", "deploy", "root", "svc_backup"];
const MONTHS: [&str; 2] = ["Nov", "Oct"];

fn generate(count: usize) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..count).map(|_| line(&mut rng)).collect()
}

fn line(r: &mut Rng) -> String {
    let (month, day, h, m, s) = (r.pick(&MONTHS), 1 + r.below(28), r.below(24), r.below(60), r.below(60));
    let bsd = format!("{month} {day:>2} {h:02}:{m:02}:{s:02}");
    let host = r.pick(&HOSTS);
    let user = r.pick(&USERS);
    let ip = format!(
        "{}.{}.{}.{}",
        1 + r.below(223),
        r.below(256),
        r.below(256),
        1 + r.below(254)
    );
    let pid = 100 + r.below(60_000);
    match r.below(20) {
        0..=4 => match r.below(3) {
            0 => format!(
                "<38>{bsd} {host} sshd[{pid}]: Accepted publickey for {user} from {ip} port {} ssh2: ED25519 SHA256:Xq3m2v9PZbq1ZK0tq3s5fJ7bG2",
                1024 + r.below(60_000)
            ),
            1 => format!(
                "<38>{bsd} {host} sshd[{pid}]: Failed password for invalid user {user} from {ip} port {} ssh2",
                1024 + r.below(60_000)
            ),
            _ => format!(
                "<86>{bsd} {host} sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)"
            ),
        },
        5..=6 => format!(
            "<85>{bsd} {host} sudo:    {user} : TTY=pts/{} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
            r.below(8)
        ),
        7..=8 => format!("<78>{bsd} {host} CRON[{pid}]: ({user}) CMD (   cd / && run-parts --report /etc/cron.hourly)"),
        9..=11 => format!(
            "<4>{bsd} {host} kernel: [{}.{:06}] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC={ip} DST=10.0.0.5 LEN=60 TOS=0x00 TTL=49 ID=0 DF PROTO=TCP SPT={} DPT=22 WINDOW=64240 SYN URGP=0",
            r.below(9_000_000),
            r.below(1_000_000),
            1024 + r.below(60_000)
        ),
        12..=16 => {
            let stamp = format!("2026-11-{day:02}T{h:02}:{m:02}:{s:02}.{:06}+01:00", r.below(1_000_000));
            if r.below(2) == 0 {
                format!(
                    r#"<165>1 {stamp} {host} payments {pid} TXN [meta@32473 requestId="{:016x}" user="{user}" path="/api/v1/pay\]ments"][origin ip="{ip}"] Payment accepted for order {}"#,
                    r.next(),
                    r.below(1_000_000)
                )
            } else {
                format!(
                    r#"<30>1 {stamp} {host} systemd 1 - [journald@32473 _SYSTEMD_UNIT="nginx.service" _PID="1" _BOOT_ID="{:032x}"] Started A high performance web server and a reverse proxy server."#,
                    r.next()
                )
            }
        }
        _ => match r.below(2) {
            0 => format!(
                "<166>{month} {day:>2} 2026 {h:02}:{m:02}:{s:02}: %ASA-6-302013: Built outbound TCP connection {} for outside:{ip}/443 ({ip}/443) to inside:10.0.0.{}/{} (203.0.113.5/{})",
                r.below(100_000_000),
                r.below(255),
                1024 + r.below(60_000),
                1024 + r.below(60_000)
            ),
            _ => format!(
                "<164>{month} {day:>2} 2026 {h:02}:{m:02}:{s:02}: %ASA-4-106023: Deny tcp src outside:{ip}/{} dst inside:10.0.0.5/22 by access-group \"outside_access_in\" [0x0, 0x0]",
                1024 + r.below(60_000)
            ),
        },
    }
}
