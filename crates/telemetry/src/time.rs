//! RFC 3339 timestamps without a date crate.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `t` as RFC 3339 in UTC with milliseconds, e.g. `2024-01-01T00:00:00.000Z`.
/// Times before 1970 are shown as the epoch.
pub fn format_rfc3339_millis(t: SystemTime) -> String {
    let mut s = String::with_capacity(24);
    write_rfc3339_millis(&mut s, t);
    s
}

/// Appends `t` formatted as by [`format_rfc3339_millis`] to `out`.
pub(crate) fn write_rfc3339_millis(out: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
}

/// Formats `t` as RFC 3339 in UTC with microseconds, e.g. `2024-01-01T00:00:00.000000Z`
/// (ELB's access log times).
pub fn format_rfc3339_micros(t: SystemTime) -> String {
    let mut s = String::with_capacity(27);
    write_rfc3339_micros(&mut s, t);
    s
}

/// Appends `t` formatted as by [`format_rfc3339_micros`] to `out`.
pub(crate) fn write_rfc3339_micros(out: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let micros = since.subsec_micros();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
}

/// Year, month, day of the `z`th day since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> String {
        format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis))
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_704_067_200, 0), "2024-01-01T00:00:00.000Z");
        assert_eq!(at(1_709_164_800, 7), "2024-02-29T00:00:00.007Z");
        assert_eq!(at(951_782_400, 999), "2000-02-29T00:00:00.999Z");
        assert_eq!(at(1_735_689_599, 123), "2024-12-31T23:59:59.123Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
        assert_eq!(at(1_460_751_420, 310), "2016-04-15T20:17:00.310Z");
    }

    #[test]
    fn microseconds() {
        let t = UNIX_EPOCH + Duration::from_micros(1_530_570_180_186_641);
        assert_eq!(format_rfc3339_micros(t), "2018-07-02T22:23:00.186641Z");
    }

    #[test]
    fn before_epoch_clamps() {
        let t = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_rfc3339_millis(t), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn every_day_round_trips() {
        // Day numbers map to strictly increasing, valid dates across four centuries.
        let mut prev = (1969, 12, 31);
        for z in 0..(146_097 * 2) {
            let (y, m, d) = civil_from_days(z);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert!((y, m, d) > prev, "{z}: {:?} after {:?}", (y, m, d), prev);
            prev = (y, m, d);
        }
    }
}
