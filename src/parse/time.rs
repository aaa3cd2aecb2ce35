//! Local date-times to UTC, shared by the parsers that read timestamps (syslog's, and the
//! CEF, LEEF and key=value one in `kv::time`). Each parser scans its own text into a
//! [`LocalDateTime`]; this module settles the zone (the stamp's own, else the context's, else
//! UTC), DST gaps and overlaps, a missing year (the one closest to reception), leap seconds
//! and the precision (microseconds).

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;

/// The zone a timestamp names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    /// A fixed offset east of UTC, in seconds; out of range (a day or more) makes the stamp
    /// unresolvable.
    Offset(i32),
    /// An IANA zone, with its DST rules.
    Named(Tz),
}

/// A date-time as written, before its year or zone is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalDateTime {
    pub(crate) year: Option<i32>,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    /// 0–60; `60` is a leap second.
    pub(crate) second: u32,
    /// Sub-second part in nanoseconds; resolving truncates it to microseconds.
    pub(crate) nanos: u32,
    /// The zone the stamp carries, if any.
    pub(crate) zone: Option<Zone>,
}

impl LocalDateTime {
    /// The instant in UTC, or `None` for an impossible date or time. A stamp without a zone is
    /// read in `tz` (UTC when `None`); one without a year takes the year that puts it closest
    /// to `received_at`.
    pub(crate) fn resolve(&self, received_at: DateTime<Utc>, tz: Option<Tz>) -> Option<DateTime<Utc>> {
        match self.year {
            Some(year) => self.at_year(year, tz),
            None => self.nearest_year(received_at, tz),
        }
    }

    /// The candidate year closest to `received_at`: the received year (in `tz`) unless that is
    /// more than half a year away, in which case the neighbouring year on that side may be
    /// closer.
    fn nearest_year(&self, received: DateTime<Utc>, tz: Option<Tz>) -> Option<DateTime<Utc>> {
        let year = match tz {
            Some(tz) => received.with_timezone(&tz).year(),
            None => received.year(),
        };
        let distance = |t: DateTime<Utc>| (t - received).num_seconds().unsigned_abs();
        let half_year = 182 * 86_400;
        let same = self.at_year(year, tz);
        if let Some(t) = same
            && distance(t) <= half_year
        {
            return same;
        }
        // Feb 29 exists in at most one of the three candidate years.
        [year - 1, year + 1]
            .into_iter()
            .filter_map(|y| self.at_year(y, tz))
            .chain(same)
            .min_by_key(|&t| distance(t))
    }

    fn at_year(&self, year: i32, tz: Option<Tz>) -> Option<DateTime<Utc>> {
        let date = NaiveDate::from_ymd_opt(year, self.month, self.day)?;
        let nanos = self.nanos - self.nanos % 1000;
        // A leap second (`:60`) is kept by chrono as nanoseconds past 1e9 in second 59.
        let (second, nanos) = match self.second {
            60 => (59, nanos + 1_000_000_000),
            s => (s, nanos),
        };
        let naive = date.and_time(NaiveTime::from_hms_nano_opt(self.hour, self.minute, second, nanos)?);
        match self.zone.or(tz.map(Zone::Named)) {
            Some(Zone::Offset(offset)) => FixedOffset::east_opt(offset)?
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.to_utc()),
            Some(Zone::Named(tz)) => Some(in_zone(&tz, naive)),
            None => Some(naive.and_utc()),
        }
    }
}

/// A wall-clock time in `tz`: the earlier instant when a fall-back makes it ambiguous, and
/// the offset in force just before a spring-forward gap when it does not exist.
fn in_zone<Z: TimeZone>(tz: &Z, naive: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.to_utc(),
        LocalResult::None => {
            // Gaps are far apart: the offset a day earlier is the one before this gap.
            let day_before = naive.checked_sub_signed(TimeDelta::days(1)).unwrap_or(naive);
            let offset = tz.offset_from_utc_datetime(&day_before).fix();
            naive.checked_sub_offset(offset).unwrap_or(naive).and_utc()
        }
    }
}
