//! CEF and LEEF parse throughput on one thread: 120k generated CEF lines (ArcSight, Check
//! Point, Imperva, CyberArk shapes, 10–20 extensions, some escapes) and 120k LEEF lines
//! (QRadar 1.0 with tabs, 2.0 with `^` and `x09` delimiters). Times `parse` and
//! `write_fields` separately, best of several passes. Run: `cargo bench --bench parse_cef_leef`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use tidemark::parse::{Fields, ParseContext, cef, leef};

const LINES: usize = 120_000;
const PASSES: usize = 5;

/// xorshift64*: deterministic lines without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn ip(&mut self) -> String {
        format!("10.{}.{}.{}", self.below(256), self.below(256), 1 + self.below(254))
    }

    fn public_ip(&mut self) -> String {
        format!("203.0.{}.{}", self.below(256), 1 + self.below(254))
    }

    fn port(&mut self) -> u64 {
        1024 + self.below(64_000)
    }

    fn millis(&mut self) -> u64 {
        1_763_632_800_000 + self.below(86_400_000)
    }
}

const USERS: &[&str] = &["alice", "bob", "svc_backup", "admin", "j.doe", "CORP\\\\mallory"];
const HOSTS: &[&str] = &[
    "ws-0142.corp.example",
    "db-02",
    "mail.example.com",
    "fw-edge-1",
    "dc01.corp.example",
];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn arcsight(r: &mut Rng) -> String {
    format!(
        "CEF:0|ArcSight|ArcSight|7.4.0.3|agent:030|Agent [test] type [syslog] started|{sev}|eventId={id} \
         mrt={mrt} categorySignificance=/Normal categoryBehavior=/Execute/Start categoryDeviceGroup=/Application \
         catdt=Security Mangement categoryOutcome=/Success categoryObject=/Host/Application/Service \
         art={art} cat=/Agent/Started deviceSeverity=Warning rt={rt} suser={user} shost={host} src={src} \
         dvchost=arcsight-conn-1 dvc={dvc} msg=Agent started with config\\=default \\\\ restart count {n} \
         atz=Europe/Berlin aid=3Ux4bN2UBABCAA1\\=\\=",
        sev = r.pick(&["Low", "Medium", "3", "5"]),
        id = r.below(10_000_000),
        mrt = r.millis(),
        art = r.millis(),
        rt = r.millis(),
        user = r.pick(USERS),
        host = r.pick(HOSTS),
        src = r.ip(),
        dvc = r.ip(),
        n = r.below(9),
    )
}

fn check_point(r: &mut Rng) -> String {
    let (src, dst) = (r.ip(), r.public_ip());
    format!(
        "CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|{svc}|Unknown|act={act} deviceDirection={dir} \
         rt={rt} spt={spt} dpt={dpt} cs2Label=Rule Name cs2=Allow {svc} outbound layer_name=Network \
         match_id={m} rule_action={act} ifname=eth{eth} loguid={{0x5f4c8e3b,0x{m:x},0x3d00a8c0,0xc0000000}} \
         origin={origin} originsicname=CN\\=gw-{eth},O\\=mgmt.example.com.s8fm2d dst={dst} \
         outzone=External product=VPN-1 & FireWall-1 proto=6 service_id={svc} src={src}",
        svc = r.pick(&["https", "http", "ssh", "dns", "smtp"]),
        act = r.pick(&["Accept", "Drop", "Reject"]),
        dir = r.below(2),
        rt = r.millis(),
        spt = r.port(),
        dpt = r.pick(&["443", "80", "22", "53", "25"]),
        m = r.below(100),
        eth = r.below(4),
        origin = r.ip(),
    )
}

fn imperva(r: &mut Rng) -> String {
    format!(
        "CEF:0|Imperva Inc.|SecureSphere|13.6.0|{sig}|{sig}|High|act=None dst={dst} dpt=443 duser={user} \
         src={src} spt={spt} proto=TCP rt={mon} {day} 2026 {h:02}:{m:02}:{s:02} cat=Alert cs1=Default Web Policy \
         cs1Label=Policy cs2=Web Servers cs2Label=ServerGroup cs3=www cs3Label=ServiceName cs4=shop \
         cs4Label=ApplicationName cs5=SQL injection attempt in parameter id cs5Label=Description \
         request=/login.php?id\\=1' OR 1\\=1--&next=/cart requestMethod=POST",
        sig = r.pick(&["Signature Violation", "Protocol Violation", "Custom Violation"]),
        dst = r.ip(),
        user = r.pick(USERS),
        src = r.public_ip(),
        spt = r.port(),
        mon = r.pick(MONTHS),
        day = 1 + r.below(28),
        h = r.below(24),
        m = r.below(60),
        s = r.below(60),
    )
}

fn cyberark(r: &mut Rng) -> String {
    format!(
        "CEF:0|Cyber-Ark|Vault|12.6.0000|{id}|{name}|{sev}|act={name} suser={user} \
         fname=Root\\\\Operating System-WinDomain-corp.example-admin dvc= shost={shost} dhost={dhost} \
         duser=admin cs1Label=Affected User Name cs1= cs2Label=Safe Name \
         cs2=Windows-Admins cs3Label=Device Type cs3=Operating System cs4Label=Database cs4= \
         cs5Label=Other info cs5={other} cn1Label=Request Id cn1={req} msg=",
        id = r.pick(&["22", "295", "300", "7"]),
        name = r.pick(&["CPM Verify Password", "Retrieve password", "Logon", "PSM Connect"]),
        sev = r.pick(&["5", "7", "2"]),
        user = r.pick(USERS),
        shost = r.ip(),
        dhost = r.pick(HOSTS),
        other = r.ip(),
        req = r.below(100_000),
    )
}

fn qradar_1_0(r: &mut Rng) -> String {
    format!(
        "LEEF:1.0|IBM|QRadar|7.5.0|{event}|devTime={mon} {day} 2026 {h:02}:{m:02}:{s:02}\t\
         devTimeFormat=MMM dd yyyy HH:mm:ss\tcat={cat}\tsev={sev}\tsrc={src}\tdst={dst}\tsrcPort={spt}\t\
         dstPort={dpt}\tusrName={user}\tproto=TCP\tidentSrc={src}\tidentHostName={host}\tpolicy=Default Policy\t\
         srcBytes={sb}\tdstBytes={db}\tresource=/api/v1/items?id={n}",
        event = r.pick(&["Login Success", "Login Failed", "Session Opened", "Object Modified"]),
        mon = r.pick(MONTHS),
        day = 1 + r.below(28),
        h = r.below(24),
        m = r.below(60),
        s = r.below(60),
        cat = r.pick(&["Authentication", "Audit", "Access"]),
        sev = 1 + r.below(10),
        src = r.ip(),
        dst = r.ip(),
        spt = r.port(),
        dpt = r.pick(&["443", "22", "3389"]),
        user = r.pick(USERS),
        host = r.pick(HOSTS),
        sb = r.below(100_000),
        db = r.below(1_000_000),
        n = r.below(1000),
    )
}

fn qradar_2_0(r: &mut Rng) -> String {
    let caret = r.below(2) == 0;
    let (field, d) = if caret { ("^", "^") } else { ("x09", "\t") };
    format!(
        "LEEF:2.0|Palo Alto Networks|PAN-OS Syslog Integration|11.1.2|{act}|{field}|cat=TRAFFIC{d}\
         devTime={t}{d}src={src}{d}dst={dst}{d}srcPostNAT={nat}{d}srcPort={spt}{d}dstPort=443{d}\
         usrName={user}{d}proto=tcp{d}action={act}{d}SerialNumber=0123456789{d}Rule=Allow Web{d}\
         totalPackets={pk}{d}srcBytes={sb}{d}dstBytes={db}{d}sev={sev}{d}url=https://{host}/a?b=c",
        act = r.pick(&["allow", "deny", "drop"]),
        t = r.millis(),
        src = r.ip(),
        dst = r.public_ip(),
        nat = r.public_ip(),
        spt = r.port(),
        user = r.pick(USERS),
        pk = r.below(5000),
        sb = r.below(100_000),
        db = r.below(1_000_000),
        sev = 1 + r.below(10),
        host = r.pick(HOSTS),
    )
}

fn generate(r: &mut Rng, shapes: &[fn(&mut Rng) -> String]) -> Vec<String> {
    (0..LINES).map(|i| shapes[i % shapes.len()](r)).collect()
}

fn best_of(mut pass: impl FnMut() -> usize) -> Duration {
    (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            black_box(pass());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn report(what: &str, lines: &[String], time: Duration) {
    let bytes: usize = lines.iter().map(String::len).sum();
    let secs = time.as_secs_f64();
    println!(
        "{what:<22} {:>6} lines  {:>8.1} ms  {:>10.0} lines/s  {:>7.1} MB/s",
        lines.len(),
        secs * 1e3,
        lines.len() as f64 / secs,
        bytes as f64 / secs / 1e6,
    );
}

fn main() {
    let ctx = ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cef_lines = generate(&mut rng, &[arcsight, check_point, imperva, cyberark]);
    let leef_lines = generate(&mut rng, &[qradar_1_0, qradar_2_0]);
    let avg = |lines: &[String]| lines.iter().map(String::len).sum::<usize>() / lines.len();
    println!(
        "one thread, best of {PASSES} passes; CEF lines average {} bytes, LEEF {} bytes",
        avg(&cef_lines),
        avg(&leef_lines)
    );

    let time = best_of(|| {
        cef_lines
            .iter()
            .map(|l| cef::parse(l, &ctx).map_or(0, |c| black_box(c).extensions.len()))
            .sum()
    });
    report("cef parse", &cef_lines, time);
    let parsed: Vec<cef::Cef<'_>> = cef_lines.iter().filter_map(|l| cef::parse(l, &ctx).ok()).collect();
    assert_eq!(parsed.len(), cef_lines.len(), "every generated CEF line parses");
    let time = best_of(|| {
        parsed
            .iter()
            .map(|c| {
                let mut out = Fields::new();
                c.write_fields(&mut out);
                black_box(out).len()
            })
            .sum()
    });
    report("cef write_fields", &cef_lines, time);
    drop(parsed);

    let time = best_of(|| {
        leef_lines
            .iter()
            .map(|l| leef::parse(l, &ctx).map_or(0, |c| black_box(c).attributes.len()))
            .sum()
    });
    report("leef parse", &leef_lines, time);
    let parsed: Vec<leef::Leef<'_>> = leef_lines.iter().filter_map(|l| leef::parse(l, &ctx).ok()).collect();
    assert_eq!(parsed.len(), leef_lines.len(), "every generated LEEF line parses");
    let time = best_of(|| {
        parsed
            .iter()
            .map(|l| {
                let mut out = Fields::new();
                l.write_fields(&mut out);
                black_box(out).len()
            })
            .sum()
    });
    report("leef write_fields", &leef_lines, time);
}
