//! `digest.schedule`: one weekly slot, "Mon 08:00", read in the site's time
//! zone.

use chrono::{NaiveTime, Weekday};
use std::fmt;

/// A weekly slot: a day of the week and a wall-clock time in
/// `site.timezone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The day of the week the digest goes out.
    pub weekday: Weekday,
    /// The local time it goes out.
    pub time: NaiveTime,
}

impl Schedule {
    /// Parses "Mon 08:00" (any case; full day names allowed).
    pub fn parse(s: &str) -> Option<Schedule> {
        let mut parts = s.split_whitespace();
        let day = parts.next()?;
        let time = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let weekday = match day.to_ascii_lowercase().as_str() {
            "mon" | "monday" => Weekday::Mon,
            "tue" | "tues" | "tuesday" => Weekday::Tue,
            "wed" | "wednesday" => Weekday::Wed,
            "thu" | "thur" | "thurs" | "thursday" => Weekday::Thu,
            "fri" | "friday" => Weekday::Fri,
            "sat" | "saturday" => Weekday::Sat,
            "sun" | "sunday" => Weekday::Sun,
            _ => return None,
        };
        let time = NaiveTime::parse_from_str(time, "%H:%M").ok()?;
        Some(Schedule { weekday, time })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.weekday, self.time.format("%H:%M"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_and_time_are_read() {
        let s = Schedule::parse("monday 08:30").unwrap();
        assert_eq!(s.weekday, Weekday::Mon);
        assert_eq!(s.to_string(), "Mon 08:30");
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", "Mon", "Mon 25:00", "Someday 08:00", "Mon 08:00 extra"] {
            assert!(Schedule::parse(bad).is_none(), "{bad}");
        }
    }
}
