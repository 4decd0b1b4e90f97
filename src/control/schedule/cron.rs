//! Five-field cron expressions in UTC (`minute hour day-of-month month day-of-week`), the
//! classic Vixie form: numbers, `*`, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`,
//! month names `jan`–`dec`, day names `sun`–`sat` (0 and 7 are Sunday). When both day fields
//! are restricted a day matching either runs (as cron does). Small and our own, so the Worker
//! carries no extra crate and every rule is tested here.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};

/// A parsed expression: for each field, the allowed values as a bit set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// Whether each day field was `*` (the day-of-month / day-of-week OR rule needs it).
    any_day_of_month: bool,
    any_day_of_week: bool,
    source: String,
}

/// The longest expression accepted (a sane bound for untrusted input).
pub const MAX_CRON_LEN: usize = 200;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    Field {
        name: "day of week",
        // 7 is read as Sunday (0) below.
        min: 0,
        max: 7,
        names: &DAYS,
    },
];

impl Field {
    fn value(&self, text: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            // Month names count from 1, day names from 0.
            return Ok(i as u32 + self.min);
        }
        let v: u32 = text
            .parse()
            .map_err(|_| format!("{}: `{text}` is not a number", self.name))?;
        if v < self.min || v > self.max {
            return Err(format!(
                "{}: {v} is outside {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(v)
    }

    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("{}: step `{s}` must be a number above 0", self.name)
                    })?;
                    (r, step)
                }
                None => (part, 1),
            };
            let (from, to) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!("{}: range `{range}` runs backwards", self.name));
                }
                (a, b)
            } else {
                let a = self.value(range)?;
                // `5/15` means from 5 to the end in steps of 15, as cron reads it.
                (a, if part.contains('/') { self.max } else { a })
            };
            let mut v = from;
            while v <= to {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok(bits)
    }
}

impl Cron {
    /// Parses an expression of five space-separated fields.
    ///
    /// # Errors
    /// A message naming the field that is wrong and why.
    pub fn parse(expression: &str) -> Result<Cron, String> {
        if expression.len() > MAX_CRON_LEN {
            return Err(format!("at most {MAX_CRON_LEN} characters"));
        }
        let parts: Vec<&str> = expression.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "five fields (minute hour day-of-month month day-of-week, UTC), got {}",
                parts.len()
            ));
        }
        let mut sets = [0u64; 5];
        for (i, (field, text)) in FIELDS.iter().zip(&parts).enumerate() {
            sets[i] = field.parse(text)?;
        }
        // Sunday is 0 and 7.
        if sets[4] & (1 << 7) != 0 {
            sets[4] = (sets[4] | 1) & !(1 << 7);
        }
        Ok(Cron {
            minutes: sets[0],
            hours: sets[1],
            days_of_month: sets[2],
            months: sets[3],
            days_of_week: sets[4],
            any_day_of_month: parts[2] == "*",
            any_day_of_week: parts[4] == "*",
            source: parts.join(" "),
        })
    }

    /// The expression as given (fields separated by one space).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        match (self.any_day_of_month, self.any_day_of_week) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first occurrence strictly after `after` (to the minute), or `None` when there is
    /// none within five years (e.g. `0 0 31 2 *`, February 31st).
    #[must_use]
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(after)
            + Duration::minutes(1);
        let mut date = start.date_naive();
        for _ in 0..(5 * 366) {
            if self.day_matches(date) {
                let first_day = date == start.date_naive();
                for hour in 0..24u32 {
                    if self.hours & (1 << hour) == 0 || (first_day && hour < start.hour()) {
                        continue;
                    }
                    for minute in 0..60u32 {
                        if self.minutes & (1 << minute) == 0 {
                            continue;
                        }
                        let at = Utc
                            .with_ymd_and_hms(
                                date.year(),
                                date.month(),
                                date.day(),
                                hour,
                                minute,
                                0,
                            )
                            .single()?;
                        if at >= start {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Every occurrence in `(after, until]`, at most `limit`.
    #[must_use]
    pub fn occurrences(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < limit {
            match self.next_after(t) {
                Some(n) if n <= until => {
                    out.push(n);
                    t = n;
                }
                _ => break,
            }
        }
        out
    }

    /// The expression as an iCalendar `RRULE` value when one says exactly the same thing:
    /// daily, filtered by month, month day or week day and expanded by hour and minute.
    /// `None` when both day fields are restricted (cron's "either day" has no RRULE form).
    #[must_use]
    pub fn rrule(&self) -> Option<String> {
        if !self.any_day_of_month && !self.any_day_of_week {
            return None;
        }
        let list = |bits: u64, range: std::ops::RangeInclusive<u32>| {
            range
                .filter(|v| bits & (1 << v) != 0)
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut rule = "FREQ=DAILY".to_owned();
        if self.months != full(1..=12) {
            rule += &format!(";BYMONTH={}", list(self.months, 1..=12));
        }
        if !self.any_day_of_month {
            rule += &format!(";BYMONTHDAY={}", list(self.days_of_month, 1..=31));
        }
        if !self.any_day_of_week {
            const ICAL_DAYS: [&str; 7] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
            let days: Vec<&str> = (0..7)
                .filter(|d| self.days_of_week & (1 << d) != 0)
                .map(|d| ICAL_DAYS[d])
                .collect();
            rule += &format!(";BYDAY={}", days.join(","));
        }
        rule += &format!(";BYHOUR={}", list(self.hours, 0..=23));
        rule += &format!(";BYMINUTE={}", list(self.minutes, 0..=59));
        Some(rule)
    }
}

fn full(range: std::ops::RangeInclusive<u32>) -> u64 {
    range.fold(0, |bits, v| bits | 1 << v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, after: &str) -> String {
        Cron::parse(expr)
            .unwrap()
            .next_after(at(after))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    }

    #[test]
    fn next_occurrence_of_common_expressions() {
        // Every minute: the next whole minute, never the same one.
        assert_eq!(
            next("* * * * *", "2026-12-01T10:00:30Z"),
            "2026-12-01T10:01:00+00:00"
        );
        assert_eq!(
            next("* * * * *", "2026-12-01T10:00:00Z"),
            "2026-12-01T10:01:00+00:00"
        );
        // A weekly release train: Wednesdays 09:00 (2026-12-02 is a Wednesday).
        assert_eq!(
            next("0 9 * * wed", "2026-12-01T10:00:00Z"),
            "2026-12-02T09:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * 3", "2026-12-02T09:00:00Z"),
            "2026-12-09T09:00:00+00:00"
        );
        // Steps and lists.
        assert_eq!(
            next("*/15 * * * *", "2026-12-01T10:07:00Z"),
            "2026-12-01T10:15:00+00:00"
        );
        assert_eq!(
            next("5,50 8-9 * * *", "2026-12-01T09:50:00Z"),
            "2026-12-02T08:05:00+00:00"
        );
        // Month boundaries, leap years, month names, Sunday as 7.
        assert_eq!(
            next("0 0 1 * *", "2026-12-15T00:00:00Z"),
            "2027-01-01T00:00:00+00:00"
        );
        assert_eq!(
            next("0 12 29 feb *", "2026-03-01T00:00:00Z"),
            "2028-02-29T12:00:00+00:00"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-01T00:00:00Z"),
            "2026-12-06T00:00:00+00:00"
        );
        // Both day fields restricted: either matches (the 1st, or a Monday).
        assert_eq!(
            next("0 0 1 * mon", "2026-12-01T00:00:00Z"),
            "2026-12-07T00:00:00+00:00"
        );
        // Never: February 31st.
        assert_eq!(next("0 0 31 2 *", "2026-12-01T00:00:00Z"), "");
    }

    #[test]
    fn bad_expressions_say_which_field_and_why() {
        for (expr, want) in [
            ("* * * *", "five fields"),
            ("60 * * * *", "minute: 60 is outside 0-59"),
            ("* 24 * * *", "hour: 24"),
            ("* * 0 * *", "day of month: 0"),
            ("* * * 13 *", "month: 13"),
            ("* * * * 8", "day of week: 8"),
            ("*/0 * * * *", "step `0`"),
            ("5-1 * * * *", "runs backwards"),
            ("x * * * *", "`x` is not a number"),
            ("@weekly", "five fields"),
        ] {
            let err = Cron::parse(expr).unwrap_err();
            assert!(err.contains(want), "{expr}: {err}");
        }
        assert!(Cron::parse(&"1,".repeat(150))
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn rrule_only_when_it_says_the_same() {
        let weekly = Cron::parse("0 9 * * mon-fri").unwrap();
        assert_eq!(
            weekly.rrule().unwrap(),
            "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=0"
        );
        let monthly = Cron::parse("30 6 1,15 jan,jul *").unwrap();
        assert_eq!(
            monthly.rrule().unwrap(),
            "FREQ=DAILY;BYMONTH=1,7;BYMONTHDAY=1,15;BYHOUR=6;BYMINUTE=30"
        );
        assert_eq!(Cron::parse("0 0 1 * mon").unwrap().rrule(), None);
    }

    #[test]
    fn occurrences_are_bounded() {
        let c = Cron::parse("0 * * * *").unwrap();
        let from = at("2026-12-01T00:00:00Z");
        let list = c.occurrences(from, from + Duration::hours(5), 100);
        assert_eq!(list.len(), 5);
        assert_eq!(c.occurrences(from, from + Duration::days(30), 10).len(), 10);
    }
}
