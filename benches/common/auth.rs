//! Generated sshd and sudo auth events as NDJSON lines: deterministic, varied enough to make
//! realistic rows (hosts, users, scanning networks, commands), about 37 ms apart.

use anyhow::Result;
use chrono::{DateTime, SecondsFormat};
use serde_json::json;
use tidemark::event::NewEvent;

use super::Lcg;

const HOSTS: &[&str] = &[
    "bastion-1",
    "bastion-2",
    "web-01",
    "web-02",
    "web-03",
    "db-01",
    "ci-runner-4",
    "vpn-gw",
];
const VALID_USERS: &[&str] = &["root", "ubuntu", "deploy", "alice", "bob", "postgres", "git"];
const GUESSED_USERS: &[&str] = &["admin", "test", "oracle", "user", "pi", "ftpuser", "support", "guest"];
const SUDO_COMMANDS: &[&str] = &[
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/apt-get update",
    "/usr/bin/journalctl -u ssh --since today",
    "/bin/cat /etc/shadow",
    "/usr/bin/docker ps -a",
];
/// First octets of the scanning networks; the rest is random.
const SOURCE_NETS: &[u8] = &[45, 61, 89, 103, 116, 185, 193, 218, 222];
/// 2026-11-20T00:00:00Z: events are spread forward from here, about 37 ms apart.
const START_MS: i64 = 1_795_132_800_000;

/// `n` NDJSON lines: 60 % failed sshd passwords, 25 % accepted public keys, 15 % sudo.
pub fn generate_events(n: usize) -> Vec<String> {
    let mut rng = Lcg(0x7469_6465);
    (0..n).map(|i| auth_event(i, &mut rng).to_string()).collect()
}

fn auth_event(i: usize, rng: &mut Lcg) -> serde_json::Value {
    let millis = START_MS + i as i64 * 37 + rng.below(37) as i64;
    let timestamp = DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let host = rng.pick(HOSTS);
    let pid = 1_000 + rng.below(60_000);
    match rng.below(100) {
        0..60 => failed_password(rng, &timestamp, host, pid),
        60..85 => accepted_publickey(rng, &timestamp, host, pid),
        _ => sudo_command(rng, &timestamp, host, pid),
    }
}

fn failed_password(rng: &mut Lcg, timestamp: &str, host: &str, pid: usize) -> serde_json::Value {
    let (user, invalid) = if rng.below(2) == 0 {
        (rng.pick(VALID_USERS), "")
    } else {
        (rng.pick(GUESSED_USERS), "invalid user ")
    };
    let (ip, port) = (remote_ip(rng), 1_024 + rng.below(64_000));
    json!({
        "@timestamp": timestamp,
        "event": {"kind": "log", "dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
        "host": {"name": host},
        "source": {"ip": ip, "port": port},
        "user": {"name": user},
        "process": {"name": "sshd", "pid": pid},
        "log": {"level": "info"},
        "message": format!("Failed password for {invalid}{user} from {ip} port {port} ssh2"),
    })
}

fn accepted_publickey(rng: &mut Lcg, timestamp: &str, host: &str, pid: usize) -> serde_json::Value {
    let user = rng.pick(VALID_USERS);
    let (ip, port) = (remote_ip(rng), 1_024 + rng.below(64_000));
    let fingerprint = key_fingerprint(rng);
    json!({
        "@timestamp": timestamp,
        "event": {"kind": "log", "dataset": "system.auth", "action": "ssh_login", "outcome": "success"},
        "host": {"name": host},
        "source": {"ip": ip, "port": port},
        "user": {"name": user},
        "process": {"name": "sshd", "pid": pid},
        "log": {"level": "info"},
        "message": format!("Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{fingerprint}"),
    })
}

fn sudo_command(rng: &mut Lcg, timestamp: &str, host: &str, pid: usize) -> serde_json::Value {
    let user = rng.pick(VALID_USERS);
    let command = rng.pick(SUDO_COMMANDS);
    let tty = rng.below(8);
    json!({
        "@timestamp": timestamp,
        "event": {"kind": "log", "dataset": "system.auth", "action": "sudo", "outcome": "success"},
        "host": {"name": host},
        "user": {"name": user, "effective": {"name": "root"}},
        "process": {"name": "sudo", "pid": pid},
        "log": {"level": "notice"},
        "message": format!("{user} : TTY=pts/{tty} ; PWD=/home/{user} ; USER=root ; COMMAND={command}"),
    })
}

fn remote_ip(rng: &mut Lcg) -> String {
    let net = SOURCE_NETS[rng.below(SOURCE_NETS.len())];
    format!("{net}.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254))
}

/// 43 base64 characters, the length of an SSH SHA256 key fingerprint.
fn key_fingerprint(rng: &mut Lcg) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..43).map(|_| char::from(ALPHABET[rng.below(64)])).collect()
}

/// Normalizes one NDJSON line as the ingest handler would (the same default source).
pub fn normalize_line(line: &str) -> Result<NewEvent> {
    let value = serde_json::from_str(line)?;
    Ok(tidemark::parse::normalize(value, line.as_bytes(), "http")?)
}
