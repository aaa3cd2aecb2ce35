//! One Windows event (`<Event>` with `<System>`, `<EventData>` or `<UserData>`, and optionally
//! `<RenderingInfo>`) as winlogbeat-style `winlog.*` fields, with well-known event data lifted
//! to ECS (`user.name`, `source.ip`, `process.executable`, ...).

use std::net::IpAddr;

use serde_json::Value;

use super::{Element, generic};
use crate::parse::csv::utc_timestamp;
use crate::parse::{Fields, ParseContext};

/// Keyword bits of the Security log: audit success and audit failure.
const AUDIT_SUCCESS: u64 = 0x0020_0000_0000_0000;
const AUDIT_FAILURE: u64 = 0x0010_0000_0000_0000;

/// An element named `Event` with a `System` child.
pub(super) fn is_event(element: &Element) -> bool {
    element.name == "Event" && element.child("System").is_some()
}

/// The fields of one event.
pub(super) fn fields(event: &Element, ctx: &ParseContext) -> Fields {
    let mut out = Fields::new();
    for part in &event.children {
        match part.name.as_str() {
            "System" => system(part, ctx, &mut out),
            "EventData" => event_data(part, &mut out),
            "UserData" => user_data(part, &mut out),
            "RenderingInfo" => {
                if let Some(message) = part
                    .child("Message")
                    .map(Element::trimmed_text)
                    .filter(|m| !m.is_empty())
                {
                    out.insert("message".into(), Value::from(message));
                }
            }
            other => generic::flatten(part, &format!("winlog.{}", snake_case(other)), &mut out),
        }
    }
    lift_to_ecs(&mut out);
    out
}

fn system(system: &Element, ctx: &ParseContext, out: &mut Fields) {
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    for item in &system.children {
        let text = item.trimmed_text();
        match item.name.as_str() {
            "Provider" => {
                if let Some(name) = item.attr("Name") {
                    put("winlog.provider_name", Value::from(name));
                }
                if let Some(guid) = item.attr("Guid") {
                    put("winlog.provider_guid", Value::from(guid));
                }
            }
            "EventID" if !text.is_empty() => {
                put("winlog.event_id", number_or_text(text));
                put("event.code", Value::from(text));
            }
            "Version" if !text.is_empty() => put("winlog.version", number_or_text(text)),
            "Level" if !text.is_empty() => {
                let (name, severity) = level(text);
                put("winlog.level", Value::from(name.unwrap_or(text)));
                if let Some(severity) = severity {
                    put("event.severity", Value::from(severity));
                }
                put("tidemark.severity_original", Value::from(text));
            }
            "Task" if !text.is_empty() => put("winlog.task", number_or_text(text)),
            "Opcode" if !text.is_empty() => put("winlog.opcode", number_or_text(text)),
            "Keywords" if !text.is_empty() => {
                put("winlog.keywords", Value::from(text));
                let bits = text
                    .strip_prefix("0x")
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok());
                match bits {
                    Some(b) if b & AUDIT_SUCCESS != 0 => put("event.outcome", Value::from("success")),
                    Some(b) if b & AUDIT_FAILURE != 0 => put("event.outcome", Value::from("failure")),
                    _ => {}
                }
            }
            "TimeCreated" => {
                if let Some(time) = item.attr("SystemTime") {
                    match utc_timestamp(time, ctx.tz) {
                        Some(t) => put("@timestamp", Value::from(t)),
                        None => put("winlog.time_created", Value::from(time)),
                    }
                }
            }
            "EventRecordID" if !text.is_empty() => put("winlog.record_id", number_or_text(text)),
            "Correlation" => {
                if let Some(id) = item.attr("ActivityID") {
                    put("winlog.activity_id", Value::from(id));
                }
                if let Some(id) = item.attr("RelatedActivityID") {
                    put("winlog.related_activity_id", Value::from(id));
                }
            }
            "Execution" => {
                if let Some(pid) = item.attr("ProcessID") {
                    put("winlog.process.pid", number_or_text(pid));
                }
                if let Some(tid) = item.attr("ThreadID") {
                    put("winlog.process.thread.id", number_or_text(tid));
                }
            }
            "Channel" if !text.is_empty() => put("winlog.channel", Value::from(text)),
            "Computer" if !text.is_empty() => {
                put("winlog.computer_name", Value::from(text));
                put("host.name", Value::from(text));
            }
            "Security" => {
                if let Some(sid) = item.attr("UserID") {
                    put("winlog.user.identifier", Value::from(sid));
                }
            }
            _ => {}
        }
    }
}

/// `<Data Name="X">v</Data>` becomes `winlog.event_data.X`; unnamed `<Data>` elements are
/// `param1`, `param2`, ... by position. Empty values are left out.
fn event_data(data: &Element, out: &mut Fields) {
    let mut unnamed = 0;
    for item in &data.children {
        let key = match (item.name.as_str(), item.attr("Name")) {
            ("Data", Some(name)) => name.to_owned(),
            ("Data", None) => {
                unnamed += 1;
                format!("param{unnamed}")
            }
            (other, _) => other.to_owned(),
        };
        let text = item.trimmed_text();
        if !text.is_empty() {
            out.insert(format!("winlog.event_data.{key}"), Value::from(text));
        }
    }
}

/// `<UserData>` holds one provider-defined element: its name is `winlog.user_data.xml_name`
/// and its content is flattened under `winlog.user_data`.
fn user_data(data: &Element, out: &mut Fields) {
    for inner in &data.children {
        out.insert("winlog.user_data.xml_name".into(), Value::from(inner.name.as_str()));
        generic::flatten(inner, "winlog.user_data", out);
    }
    // An empty provider element has no content to keep.
    if out.get("winlog.user_data").is_some_and(|v| v == "") {
        out.remove("winlog.user_data");
    }
}

/// Copies well-known event data (Security and Sysmon) into ECS fields.
fn lift_to_ecs(out: &mut Fields) {
    let get = |out: &Fields, name: &str| -> Option<String> {
        ["winlog.event_data.", "winlog.user_data."]
            .iter()
            .find_map(|prefix| out.get(&format!("{prefix}{name}")).and_then(Value::as_str))
            .filter(|v| !v.is_empty() && *v != "-")
            .map(str::to_owned)
    };
    let user = match (get(out, "TargetUserName"), get(out, "SubjectUserName")) {
        (Some(name), _) => Some((name, get(out, "TargetDomainName"))),
        (None, Some(name)) => Some((name, get(out, "SubjectDomainName"))),
        // Sysmon writes `DOMAIN\user`.
        (None, None) => get(out, "User").map(|u| match u.split_once('\\') {
            Some((domain, name)) => (name.to_owned(), Some(domain.to_owned())),
            None => (u, None),
        }),
    };
    if let Some((name, domain)) = user {
        out.insert("user.name".into(), Value::from(name));
        if let Some(domain) = domain {
            out.insert("user.domain".into(), Value::from(domain));
        }
    }
    if let Some(ip) = get(out, "IpAddress").and_then(|ip| ip.parse::<IpAddr>().ok()) {
        out.insert("source.ip".into(), Value::from(ip.to_canonical().to_string()));
    }
    if let Some(port) = get(out, "IpPort")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|&p| p != 0)
    {
        out.insert("source.port".into(), Value::from(port));
    }
    if let Some(workstation) = get(out, "WorkstationName") {
        out.insert("source.domain".into(), Value::from(workstation));
    }
    let executable = ["NewProcessName", "ProcessName", "Image"]
        .iter()
        .find_map(|k| get(out, k));
    if let Some(executable) = executable {
        let name = executable.rsplit(['\\', '/']).next().unwrap_or_default().to_owned();
        out.insert("process.executable".into(), Value::from(executable));
        if !name.is_empty() {
            out.insert("process.name".into(), Value::from(name));
        }
    }
    if let Some(pid) = ["NewProcessId", "ProcessId"]
        .iter()
        .find_map(|k| get(out, k))
        .and_then(|p| pid(&p))
        .filter(|&p| p != 0)
    {
        out.insert("process.pid".into(), Value::from(pid));
    }
    if let Some(command_line) = get(out, "CommandLine") {
        out.insert("process.command_line".into(), Value::from(command_line));
    }
    if let Some(parent) = ["ParentProcessName", "ParentImage"].iter().find_map(|k| get(out, k)) {
        out.insert("process.parent.executable".into(), Value::from(parent));
    }
    if let Some(logon_type) = get(out, "LogonType") {
        let name = logon_type_name(&logon_type).map_or(logon_type, str::to_owned);
        out.insert("winlog.logon.type".into(), Value::from(name));
    }
}

/// The level's name and Tidemark severity. Level 0 (LogAlways) is rendered as Information.
fn level(text: &str) -> (Option<&'static str>, Option<u8>) {
    match text.parse::<u8>() {
        Ok(1) => (Some("critical"), Some(9)),
        Ok(2) => (Some("error"), Some(7)),
        Ok(3) => (Some("warning"), Some(5)),
        Ok(0 | 4) => (Some("information"), Some(2)),
        Ok(5) => (Some("verbose"), Some(1)),
        _ => (None, None),
    }
}

/// Logon type names as winlogbeat writes them.
fn logon_type_name(code: &str) -> Option<&'static str> {
    Some(match code.parse::<u8>().ok()? {
        2 => "Interactive",
        3 => "Network",
        4 => "Batch",
        5 => "Service",
        7 => "Unlock",
        8 => "NetworkCleartext",
        9 => "NewCredentials",
        10 => "RemoteInteractive",
        11 => "CachedInteractive",
        12 => "CachedRemoteInteractive",
        13 => "CachedUnlock",
        _ => return None,
    })
}

/// A decimal or `0x` hexadecimal process id (Security events write hex, Sysmon decimal).
fn pid(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn number_or_text(text: &str) -> Value {
    text.parse::<u64>().map_or_else(|_| Value::from(text), Value::from)
}

/// `ProcessingErrorData` → `processing_error_data`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
