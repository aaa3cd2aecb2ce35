//! CEF to ECS, after Elastic's CEF module: the header becomes `observer.*`, `event.code`,
//! `message`/`rule.name` and `event.severity`; known extension keys (short or full ArcSight
//! names) become their ECS fields; the rest stays under `cef.extensions.<key>`.

use serde_json::Value;

use super::Cef;
use crate::parse::Fields;
use crate::parse::kv::mapping::{self, Kind, Target, Writer};
use crate::parse::kv::time;

const EXTENSIONS: &str = "cef.extensions.";

impl Cef<'_> {
    /// Writes the record as flat ECS fields:
    /// - header: `cef.version`, `cef.name`, `cef.severity` as written; `observer.vendor`,
    ///   `observer.product`, `observer.version`, `event.code` (signature id); `event.severity`
    ///   (0–10; Low 3, Medium 5, High 8, Very-High 10) with `tidemark.severity_original`;
    ///   the name is `message`, or `rule.name` when a `msg` extension is the message;
    /// - extensions per `targets` (`src` → `source.ip`, `rt` → `@timestamp`, ...), each
    ///   value coerced to its field's type; a value that does not fit (a host name in
    ///   `src`, an unreadable `rt`) or repeats a field stays under `cef.extensions.<key>`;
    /// - custom slots with labels (`cs1`+`cs1Label`, `cn1`, `cfp1`, `c6a1`, `flexString1`,
    ///   `flexNumber1`, `flexDate1`, ... — any key `K` next to a `KLabel`) become
    ///   `cef.custom.<label>`, the label lowercased with non-alphanumerics as `_`; numbers
    ///   stay numbers and dates become RFC 3339; a slot without a label stays under
    ///   `cef.extensions.<key>`, a label without its slot under `cef.extensions.<key>Label`,
    ///   and a label of an empty slot is left out;
    /// - every other key goes to `cef.extensions.<key>`; values lose one pair of enclosing
    ///   double quotes, and empty values are left out.
    pub fn write_fields(&self, out: &mut Fields) {
        let mut w = Writer::new(out, self.clock);
        w.set_str("cef.version", self.version);
        w.set_str("observer.vendor", &self.device_vendor);
        w.set_str("observer.product", &self.device_product);
        w.set_str("observer.version", &self.device_version);
        w.set_str("event.code", &self.signature_id);
        w.set_str("cef.name", &self.name);
        w.set_str("cef.severity", &self.severity);
        w.severity(mapping::severity(&self.severity), &self.severity);
        let has_msg = ["msg", "message"]
            .iter()
            .any(|k| self.get(k).is_some_and(|m| !m.trim().is_empty()));
        w.set_str(if has_msg { "rule.name" } else { "message" }, &self.name);

        let has_labels = self.extensions.iter().any(|(k, _)| k.ends_with("Label"));
        for (key, value) in &self.extensions {
            let value = unquote(value);
            if value.is_empty() {
                continue;
            }
            if has_labels {
                if self.labels_a_slot(key) {
                    continue;
                }
                if let Some(label) = self.label_of(key) {
                    self.write_custom(&mut w, key, label, value);
                    continue;
                }
            }
            match targets(key) {
                Some(target) => w.map(target, EXTENSIONS, key, value),
                None => w.keep(EXTENSIONS, key, value),
            }
        }
        w.finish();
    }

    /// The non-empty label of `key`, from an extension named `key` + `Label`.
    fn label_of(&self, key: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(k, v)| {
                k.len() == key.len() + 5 && k.starts_with(key) && k.ends_with("Label") && !v.trim().is_empty()
            })
            .map(|(_, v)| unquote(v))
    }

    /// Whether `key` is the label of a slot present in the record: written with the slot's
    /// value, or dropped with an empty one (CyberArk sends every label, most slots empty).
    fn labels_a_slot(&self, key: &str) -> bool {
        key.strip_suffix("Label")
            .filter(|slot| !slot.is_empty())
            .is_some_and(|slot| self.get(slot).is_some())
    }

    fn write_custom(&self, w: &mut Writer<'_>, key: &str, label: &str, value: &str) {
        let name = field_name("cef.custom.", label);
        let typed = if is_numeric_slot(key) {
            number(value)
        } else if is_date_slot(key) {
            time::parse_any(value, &w.clock).map(|t| Value::String(time::rfc3339(t)))
        } else {
            None
        };
        if !w.set(&name, typed.unwrap_or_else(|| Value::String(value.to_owned()))) {
            // Two slots with the same label: keep both, each under its own key.
            w.keep(EXTENSIONS, key, value);
            w.keep(EXTENSIONS, &format!("{key}Label"), label);
        }
    }
}

/// A value without the double quotes some emitters wrap values in (Palo Alto's `request`,
/// CyberArk's labels).
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

fn is_numeric_slot(key: &str) -> bool {
    [
        "cn",
        "cfp",
        "flexNumber",
        "deviceCustomNumber",
        "deviceCustomFloatingPoint",
    ]
    .iter()
    .any(|p| {
        key.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn is_date_slot(key: &str) -> bool {
    key.starts_with("flexDate") || key.starts_with("deviceCustomDate")
}

fn number(value: &str) -> Option<Value> {
    let value = value.trim();
    if let Ok(n) = value.parse::<i64>() {
        return Some(Value::from(n));
    }
    value
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

/// `prefix` and a label as a field name: lowercase, runs of other characters as one `_`.
fn field_name(prefix: &str, label: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + label.len());
    name.push_str(prefix);
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if c.is_alphanumeric() {
            name.extend(c.to_lowercase());
        } else if name.len() > prefix.len() && !name.ends_with('_') {
            name.push('_');
        }
    }
    while name.len() > prefix.len() && name.ends_with('_') {
        name.pop();
    }
    if name.len() == prefix.len() {
        name.push('_');
    }
    name
}

/// The ECS fields a CEF extension key (short or full ArcSight name) fills. Shared with LEEF,
/// whose emitters often borrow CEF's keys.
pub(crate) fn targets(key: &str) -> Option<Target> {
    use Kind::*;
    Some(match key {
        "src" | "sourceAddress" => (Ip, &["source.ip"]),
        "spt" | "sourcePort" => (Port, &["source.port"]),
        "dst" | "destinationAddress" => (Ip, &["destination.ip"]),
        "dpt" | "destinationPort" => (Port, &["destination.port"]),
        "smac" | "sourceMacAddress" => (Text, &["source.mac"]),
        "dmac" | "destinationMacAddress" => (Text, &["destination.mac"]),
        "shost" | "sourceHostName" => (Text, &["source.domain"]),
        "dhost" | "destinationHostName" => (Text, &["destination.domain"]),
        "suser" | "sourceUserName" => (Text, &["user.name", "source.user.name"]),
        "suid" | "sourceUserId" => (Text, &["source.user.id"]),
        "duser" | "destinationUserName" => (Text, &["destination.user.name"]),
        "duid" | "destinationUserId" => (Text, &["destination.user.id"]),
        "sourceTranslatedAddress" => (Ip, &["source.nat.ip"]),
        "sourceTranslatedPort" => (Port, &["source.nat.port"]),
        "destinationTranslatedAddress" => (Ip, &["destination.nat.ip"]),
        "destinationTranslatedPort" => (Port, &["destination.nat.port"]),
        "dvchost" | "deviceHostName" => (Text, &["observer.hostname", "host.name"]),
        "dvc" | "deviceAddress" => (Ip, &["observer.ip"]),
        "dvcmac" | "deviceMacAddress" => (Text, &["observer.mac"]),
        "deviceExternalId" => (Text, &["observer.name"]),
        "deviceInboundInterface" => (Text, &["observer.ingress.interface.name"]),
        "deviceOutboundInterface" => (Text, &["observer.egress.interface.name"]),
        "deviceDirection" => (Direction, &["network.direction"]),
        "act" | "deviceAction" => (Text, &["event.action"]),
        "outcome" | "eventOutcome" => (Outcome, &["event.outcome"]),
        "reason" => (Text, &["event.reason"]),
        "proto" | "transportProtocol" => (Transport, &["network.transport"]),
        "app" | "applicationProtocol" => (Lower, &["network.protocol"]),
        "in" | "bytesIn" => (Count, &["source.bytes"]),
        "out" | "bytesOut" => (Count, &["destination.bytes"]),
        "request" | "requestUrl" => (Text, &["url.original"]),
        "requestMethod" => (Text, &["http.request.method"]),
        "requestClientApplication" => (Text, &["user_agent.original"]),
        "sproc" | "sourceProcessName" | "dproc" | "destinationProcessName" => (Text, &["process.name"]),
        "spid" | "sourceProcessId" | "dpid" | "destinationProcessId" => (Count, &["process.pid"]),
        "fname" | "fileName" => (Text, &["file.name"]),
        "filePath" => (Text, &["file.path"]),
        "fsize" | "fileSize" => (Count, &["file.size"]),
        "fileHash" => (Hash, &["file.hash"]),
        "msg" | "message" => (Text, &["message"]),
        "rt" | "deviceReceiptTime" => (Time, &["@timestamp"]),
        "start" | "startTime" => (Time, &["event.start"]),
        "end" | "endTime" => (Time, &["event.end"]),
        "cat" | "deviceEventCategory" => (Text, &["cef.category"]),
        "cnt" | "baseEventCount" => (Count, &["event.count"]),
        _ => return None,
    })
}
