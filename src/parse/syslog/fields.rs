//! [`Syslog::write_fields`]: the parsed line as flat ECS fields.

use chrono::{SecondsFormat, Timelike};
use serde_json::Value;
use serde_json::map::Entry;

use super::{Syslog, pri};
use crate::parse::Fields;

impl Syslog<'_> {
    /// Writes every extracted field into `out`: `@timestamp`, `log.syslog.*` (priority,
    /// facility and severity codes and names, version, msgid, structured data as
    /// `log.syslog.structured_data.<SD-ID>.<param>`), `host.hostname` and `host.name`,
    /// `process.name`, `process.pid` (or `log.syslog.procid` when not a number),
    /// `cisco.asa.*`, `event.severity` with `tidemark.severity_original`, and `message`.
    /// A parameter repeated within one element becomes an array of its values.
    pub fn write_fields(&self, out: &mut Fields) {
        if let Some(t) = self.timestamp {
            let precision = if t.nanosecond() == 0 {
                SecondsFormat::Secs
            } else {
                SecondsFormat::Micros
            };
            put(out, "@timestamp", t.to_rfc3339_opts(precision, true));
        }
        if let Some(priority) = self.priority {
            let (facility, severity) = (priority >> 3, priority & 7);
            put(out, "log.syslog.priority", priority);
            put(out, "log.syslog.facility.code", facility);
            put(out, "log.syslog.facility.name", pri::facility_name(facility));
            put(out, "log.syslog.severity.code", severity);
            put(out, "log.syslog.severity.name", pri::severity_name(severity));
        }
        if let Some(version) = self.version {
            put(out, "log.syslog.version", version);
        }
        if let Some(host) = self.hostname {
            put(out, "host.hostname", host);
            put(out, "host.name", host);
        }
        if let Some(app) = self.app_name {
            put(out, "process.name", app);
        }
        match self.proc_id.map(|p| (p, p.parse::<u32>())) {
            Some((_, Ok(pid))) => put(out, "process.pid", pid),
            Some((procid, Err(_))) => put(out, "log.syslog.procid", procid),
            None => {}
        }
        if let Some(msg_id) = self.msg_id {
            put(out, "log.syslog.msgid", msg_id);
        }
        for element in self.structured_data {
            for param in element.params() {
                let key = format!("log.syslog.structured_data.{}.{}", element.id(), param.name());
                let value = Value::String(param.value().into_owned());
                match out.entry(key) {
                    Entry::Vacant(slot) => {
                        slot.insert(value);
                    }
                    Entry::Occupied(mut slot) => match slot.get_mut() {
                        Value::Array(values) => values.push(value),
                        first => *first = Value::Array(vec![first.take(), value]),
                    },
                }
            }
        }
        if let Some(asa) = self.asa {
            put(out, "cisco.asa.facility", asa.facility);
            put(out, "cisco.asa.severity", asa.severity);
            put(out, "cisco.asa.message_id", asa.message_id);
        }
        // The ASA tag's own severity digit is the device's word on the event.
        if let Some(severity) = self.asa.map(|a| a.severity).or(self.severity()) {
            put(out, "event.severity", pri::tidemark_severity(severity));
            put(out, "tidemark.severity_original", pri::severity_name(severity));
        }
        if !self.msg.is_empty() {
            put(out, "message", self.msg);
        }
    }
}

fn put(out: &mut Fields, key: &str, value: impl Into<Value>) {
    out.insert(key.to_owned(), value.into());
}
