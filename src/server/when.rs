//! When the digest comes, in words a reader reads: the first issue a
//! reader confirming now will get, and the weekly slot, in the site's time
//! zone, in Chinese and English. Never the ISO week, which is for URLs.

use super::pages::Bilingual;
use crate::calendar::{en_month, en_time, en_weekday, zh_time, zh_weekday};
use crate::config::{Config, Schedule};
use crate::digest::schedule::next_slot_after;
use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use chrono_tz::Tz;

/// The time of the first issue a reader who becomes active at `now` is
/// sent: the next slot strictly after `now` (an issue due at `now` itself
/// may already have chosen its readers), in `site.timezone`.
pub(super) fn first_issue(config: &Config, now: DateTime<FixedOffset>) -> DateTime<Tz> {
    let tz = config.site.timezone;
    next_slot_after(&config.digest.schedule, tz, now)
        .cutoff
        .with_timezone(&tz)
}

/// `t` for a reader: `6月22日（星期一）上午8:00` and `Monday 22 June,
/// 8:00 am`; the year is added when it is not `now`'s.
pub(super) fn date_time(t: DateTime<Tz>, now: DateTime<FixedOffset>) -> Bilingual {
    let other_year = t.year() != now.with_timezone(&t.timezone()).year();
    let zh_year = if other_year {
        format!("{}年", t.year())
    } else {
        String::new()
    };
    let en_year = if other_year {
        format!(" {}", t.year())
    } else {
        String::new()
    };
    let zh = format!(
        "{zh_year}{}月{}日（{}）{}",
        t.month(),
        t.day(),
        zh_weekday(t.weekday()),
        zh_time(t.hour(), t.minute())
    );
    let en = format!(
        "{} {} {}{en_year}, {}",
        en_weekday(t.weekday()),
        t.day(),
        en_month(t.month0()),
        en_time(t.hour(), t.minute())
    );
    Bilingual::owned(zh, en)
}

/// The weekly slot: `每星期一上午8:00` and `every Monday at 8:00 am`.
pub(super) fn weekly(schedule: &Schedule) -> Bilingual {
    let (h, m) = (schedule.time.hour(), schedule.time.minute());
    Bilingual::owned(
        format!("每{}{}", zh_weekday(schedule.weekday), zh_time(h, m)),
        format!(
            "every {} at {}",
            en_weekday(schedule.weekday),
            en_time(h, m)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn a_time_reads_as_people_write_it_in_each_language() {
        let hk = Tz::Asia__Hong_Kong;
        let now = at("2026-06-15T08:00:00+08:00");
        let t = hk.with_ymd_and_hms(2026, 6, 22, 8, 0, 0).unwrap();
        let d = date_time(t, now);
        assert_eq!(d.zh, "6月22日（星期一）上午8:00");
        assert_eq!(d.en, "Monday 22 June, 8:00 am");
        let t = hk.with_ymd_and_hms(2027, 1, 3, 0, 30, 0).unwrap();
        let d = date_time(t, now);
        assert_eq!(d.zh, "2027年1月3日（星期日）凌晨12:30");
        assert_eq!(d.en, "Sunday 3 January 2027, 12:30 am");
        let t = hk.with_ymd_and_hms(2026, 6, 20, 12, 5, 0).unwrap();
        assert_eq!(date_time(t, now).zh, "6月20日（星期六）中午12:05");
        let t = hk.with_ymd_and_hms(2026, 6, 20, 19, 0, 0).unwrap();
        assert_eq!(date_time(t, now).en, "Saturday 20 June, 7:00 pm");
    }

    #[test]
    fn the_weekly_slot_names_its_day_and_time() {
        let s = Schedule::parse("Fri 17:30").unwrap();
        let w = weekly(&s);
        assert_eq!(w.zh, "每星期五下午5:30");
        assert_eq!(w.en, "every Friday at 5:30 pm");
    }
}
