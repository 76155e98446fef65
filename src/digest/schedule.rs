//! Weekly slots in the site's time zone. Slot times are wall-clock times,
//! so "Mon 08:00" stays 08:00 across a daylight-saving change.

use crate::config::Schedule;
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// One scheduled issue time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The scheduled time: the cutoff.
    pub cutoff: DateTime<FixedOffset>,
    /// Its ISO week, e.g. `2026-W24`.
    pub label: String,
}

impl Slot {
    /// A slot at an arbitrary time (a forced issue), labelled by its week.
    pub fn at(t: DateTime<FixedOffset>, tz: Tz) -> Slot {
        Slot {
            cutoff: t,
            label: week_label(t.with_timezone(&tz).date_naive()),
        }
    }
}

fn week_label(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// The slot on `date` (which must be the schedule's weekday). A time that
/// falls in a daylight-saving gap moves to the first instant after it.
fn slot_on(schedule: &Schedule, tz: Tz, date: NaiveDate) -> Slot {
    let local = date.and_time(schedule.time);
    let cutoff = tz
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            (1..=4)
                .filter_map(|h| {
                    tz.from_local_datetime(&(local + chrono::Duration::minutes(30 * h)))
                        .earliest()
                })
                .next()
        })
        .expect("a gap never lasts two hours")
        .fixed_offset();
    Slot {
        cutoff,
        label: week_label(date),
    }
}

/// The latest slot at or before `now`.
pub fn latest_slot(schedule: &Schedule, tz: Tz, now: DateTime<FixedOffset>) -> Slot {
    let today = now.with_timezone(&tz).date_naive();
    let back =
        (today.weekday().num_days_from_monday() + 7 - schedule.weekday.num_days_from_monday()) % 7;
    let mut day = today - Days::new(u64::from(back));
    loop {
        let slot = slot_on(schedule, tz, day);
        if slot.cutoff <= now {
            return slot;
        }
        day = day - Days::new(7);
    }
}

/// The first slot strictly after `t`.
pub fn next_slot_after(schedule: &Schedule, tz: Tz, t: DateTime<FixedOffset>) -> Slot {
    let latest = latest_slot(schedule, tz, t);
    let day = latest.cutoff.with_timezone(&tz).date_naive() + Days::new(7);
    let mut slot = slot_on(schedule, tz, day);
    // A slot moved out of a gap could land on or before `t`; take the next.
    while slot.cutoff <= t {
        slot = slot_on(
            schedule,
            tz,
            slot.cutoff.with_timezone(&tz).date_naive() + Days::new(7),
        );
    }
    slot
}

/// The first slot at or after `t`.
pub fn slot_at_or_after(schedule: &Schedule, tz: Tz, t: DateTime<FixedOffset>) -> Slot {
    let latest = latest_slot(schedule, tz, t);
    if latest.cutoff == t {
        latest
    } else {
        next_slot_after(schedule, tz, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn the_latest_slot_is_found_in_the_site_zone() {
        let mon8 = Schedule::parse("Mon 08:00").unwrap();
        let hk = Tz::Asia__Hong_Kong;
        let s = latest_slot(&mon8, hk, at("2026-06-17T12:00:00+08:00"));
        assert_eq!(s.cutoff, at("2026-06-15T08:00:00+08:00"));
        assert_eq!(s.label, "2026-W25");
        // Just before the slot, the previous week's.
        let s = latest_slot(&mon8, hk, at("2026-06-15T07:59:59+08:00"));
        assert_eq!(s.cutoff, at("2026-06-08T08:00:00+08:00"));
        // On the slot itself, that slot.
        let s = latest_slot(&mon8, hk, at("2026-06-15T08:00:00+08:00"));
        assert_eq!(s.cutoff, at("2026-06-15T08:00:00+08:00"));
        assert_eq!(
            next_slot_after(&mon8, hk, s.cutoff).cutoff,
            at("2026-06-22T08:00:00+08:00")
        );
    }

    #[test]
    fn slots_keep_their_wall_clock_time_across_daylight_saving() {
        let sun = Schedule::parse("Sun 08:00").unwrap();
        let london: Tz = "Europe/London".parse().unwrap();
        // Clocks go forward on Sunday 29 March 2026.
        let before = latest_slot(&sun, london, at("2026-03-23T00:00:00Z"));
        assert_eq!(before.cutoff, at("2026-03-22T08:00:00+00:00"));
        let after = next_slot_after(&sun, london, before.cutoff);
        assert_eq!(after.cutoff, at("2026-03-29T08:00:00+01:00"));
    }

    #[test]
    fn a_slot_in_a_gap_moves_past_it() {
        let sun = Schedule::parse("Sun 01:30").unwrap();
        let london: Tz = "Europe/London".parse().unwrap();
        let s = latest_slot(&sun, london, at("2026-03-30T00:00:00Z"));
        assert_eq!(s.cutoff, at("2026-03-29T02:00:00+01:00"));
    }
}
