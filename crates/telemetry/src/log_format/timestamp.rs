//! A line's timestamp as tracing-subscriber's `SystemTime` timer writes it (RFC 3339 in UTC
//! with microseconds, `2024-05-06T07:08:09.123456Z`), made with integer arithmetic into a
//! byte array instead of seven `{:02}` trips through `core::fmt`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::text::ascii;

const SECONDS_PER_DAY: i64 = 86_400;

/// Appends `time` as tracing-subscriber's `SystemTime` timer writes it.
pub(super) fn push_timestamp(line: &mut String, time: SystemTime) {
    // Whole seconds since the epoch rounded down, and the nanoseconds past them.
    let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => (since.as_secs() as i64, since.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let (seconds, nanos) = (before.as_secs() as i64, before.subsec_nanos());
            if nanos == 0 {
                (-seconds, 0)
            } else {
                (-seconds - 1, 1_000_000_000 - nanos)
            }
        }
    };
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    if (0..=9999).contains(&year) {
        let year = year as u32;
        let digits = [year / 1000, year / 100 % 10, year / 10 % 10, year % 10];
        line.push_str(ascii(&digits.map(|digit| b'0' + digit as u8)));
    } else if year > 9999 {
        let _ = write!(line, "+{year}");
    } else {
        let _ = write!(line, "{year:05}");
    }
    let two = |value: i64| [b'0' + (value / 10) as u8, b'0' + (value % 10) as u8];
    let [month_tens, month_ones] = two(month);
    let [day_tens, day_ones] = two(day);
    let [hour_tens, hour_ones] = two(second_of_day / 3600);
    let [minute_tens, minute_ones] = two(second_of_day / 60 % 60);
    let [second_tens, second_ones] = two(second_of_day % 60);
    let micros = nanos / 1_000;
    let micro = |place: u32| b'0' + (micros / place % 10) as u8;
    let rest = [
        b'-',
        month_tens,
        month_ones,
        b'-',
        day_tens,
        day_ones,
        b'T',
        hour_tens,
        hour_ones,
        b':',
        minute_tens,
        minute_ones,
        b':',
        second_tens,
        second_ones,
        b'.',
        micro(100_000),
        micro(10_000),
        micro(1_000),
        micro(100),
        micro(10),
        micro(1),
        b'Z',
    ];
    line.push_str(ascii(&rest));
}

/// The proleptic Gregorian year, month (1 to 12) and day (1 to 31) `days` after 1970-01-01
/// (Howard Hinnant's `civil_from_days`), for any day an `i64` count of seconds reaches.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: i64, micros: u32) -> SystemTime {
        if seconds >= 0 {
            UNIX_EPOCH + Duration::new(seconds as u64, micros * 1_000)
        } else {
            (UNIX_EPOCH - Duration::new(!seconds as u64 + 1, 0)) + Duration::new(0, micros * 1_000)
        }
    }

    fn written(time: SystemTime) -> String {
        let mut line = String::new();
        push_timestamp(&mut line, time);
        line
    }

    /// tracing-subscriber's own cases for its `DateTime` (src/fmt/time/datetime.rs).
    #[test]
    fn tracing_subscribers_cases() {
        let cases: &[(&str, i64, u32)] = &[
            ("1970-01-01T00:00:00.000000Z", 0, 0),
            ("1970-01-01T00:00:00.000001Z", 0, 1),
            ("1970-01-01T00:00:00.500000Z", 0, 500_000),
            ("1970-01-01T00:00:01.000001Z", 1, 1),
            ("1970-01-01T00:01:01.000001Z", 60 + 1, 1),
            ("1970-01-01T01:01:01.000001Z", 60 * 60 + 60 + 1, 1),
            (
                "1970-01-02T01:01:01.000001Z",
                24 * 60 * 60 + 60 * 60 + 60 + 1,
                1,
            ),
            ("1969-12-31T23:59:59.000000Z", -1, 0),
            ("1969-12-31T23:59:59.000001Z", -1, 1),
            ("1969-12-31T23:59:59.500000Z", -1, 500_000),
            ("1969-12-31T23:58:59.000001Z", -60 - 1, 1),
            ("1969-12-31T22:58:59.000001Z", -60 * 60 - 60 - 1, 1),
            (
                "1969-12-30T22:58:59.000001Z",
                -24 * 60 * 60 - 60 * 60 - 60 - 1,
                1,
            ),
            ("2038-01-19T03:14:07.000000Z", i32::MAX as i64, 0),
            ("2038-01-19T03:14:08.000000Z", i32::MAX as i64 + 1, 0),
            ("1901-12-13T20:45:52.000000Z", i32::MIN as i64, 0),
            ("1901-12-13T20:45:51.000000Z", i32::MIN as i64 - 1, 0),
            ("+292277026596-12-04T15:30:07.000000Z", i64::MAX, 0),
            ("+292277026596-12-04T15:30:06.000000Z", i64::MAX - 1, 0),
            ("-292277022657-01-27T08:29:53.000000Z", i64::MIN + 1, 0),
            ("1900-01-01T00:00:00.000000Z", -2208988800, 0),
            ("1899-12-31T23:59:59.000000Z", -2208988801, 0),
            ("2345-06-07T08:09:01.000000Z", 11847456541, 0),
            ("1234-05-06T07:08:09.000000Z", -23215049511, 0),
            ("0000-01-01T00:00:00.000000Z", -62167219200, 0),
            ("-0001-12-31T23:59:59.000000Z", -62167219201, 0),
            ("-1234-05-06T07:08:09.000000Z", -101097651111, 0),
            ("-2345-06-07T08:09:01.000000Z", -136154620259, 0),
        ];
        for &(expected, seconds, micros) in cases {
            assert_eq!(written(at(seconds, micros)), expected, "{seconds} {micros}");
        }
    }

    /// Every day from 1900 to 2200, and every 17th day from year 1 to 9999, at changing times
    /// of day, against the `time` crate.
    #[test]
    fn days_of_four_digit_years() {
        let format = time::format_description::parse_borrowed::<1>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z",
        )
        .unwrap();
        let check = |first: i64, last: i64, days: i64| {
            let mut seconds = first;
            let mut nanos = 0u64;
            while seconds <= last {
                let time = at(seconds, 0) + Duration::from_nanos(nanos);
                let reference = time::OffsetDateTime::from(time).format(&format).unwrap();
                assert_eq!(written(time), reference, "{seconds}");
                seconds += days * SECONDS_PER_DAY + 3_607;
                nanos = (nanos + 7_919_123) % 1_000_000_000;
            }
        };
        check(-2_208_988_800, 7_258_118_400, 1); // 1900-01-01 to 2200-01-01
        check(-62_135_596_800, 253_402_300_799, 17); // 0001-01-01 to 9999-12-31T23:59:59
    }

    #[test]
    fn now_has_the_shape_of_the_reference() {
        let line = written(SystemTime::now());
        assert_eq!(line.len(), "1970-01-01T00:00:00.000000Z".len(), "{line}");
        assert!(line.ends_with('Z'), "{line}");
    }
}
