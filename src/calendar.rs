//! Days and times as readers write them, in Traditional Chinese and in
//! English: what the digest, its archive and the service's pages say when
//! they name a date. One place, so "星期一" and "Monday" read the same in
//! every email and page.

use chrono::Weekday;

/// `星期一` … `星期日`.
pub fn zh_weekday(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    }
}

/// `Monday` … `Sunday`.
pub fn en_weekday(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// `January` … `December`, for `month0` 0 … 11.
pub fn en_month(month0: u32) -> &'static str {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    MONTHS[month0 as usize % 12]
}

/// The 12-hour clock as Hong Kong writes it, with the part of the day
/// before it: 凌晨 before 6, 上午 to noon, 中午 in the hour of noon, 下午
/// to 6, 晚上 after.
pub fn zh_time(h: u32, m: u32) -> String {
    let part = match h {
        0..=5 => "凌晨",
        6..=11 => "上午",
        12 => "中午",
        13..=17 => "下午",
        _ => "晚上",
    };
    format!("{part}{}:{m:02}", twelve(h))
}

/// `8:00 am`, `12:30 pm`.
pub fn en_time(h: u32, m: u32) -> String {
    let part = if h < 12 { "am" } else { "pm" };
    format!("{}:{m:02} {part}", twelve(h))
}

fn twelve(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        n => n,
    }
}
