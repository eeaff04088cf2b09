//! Timestamps as the ECS agent writes them: RFC 3339 in UTC, with the fraction of a
//! second Go's `time.Time` marshals (nanoseconds, trailing zeros dropped, none when
//! whole), or whole seconds for credentials' `Expiration`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;

/// What Go writes for its zero time, the `preread` of a first stats sample.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `t` as `2020-10-02T00:15:07.620912337Z` (Go's `RFC3339Nano`).
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let (secs, nanos) = split(t);
    let mut out = date_time(secs);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// `t` as `2017-06-01T19:42:55Z`, whole seconds (the fraction is dropped).
pub fn rfc3339_seconds(t: SystemTime) -> String {
    let (secs, _) = split(t);
    let mut out = date_time(secs);
    out.push('Z');
    out
}

/// Seconds since the epoch (negative before it) and nanoseconds into that second.
fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let back = e.duration();
            let whole = back.as_secs() as i64 + i64::from(back.subsec_nanos() > 0);
            let rest = Duration::from_secs(whole as u64) - back;
            (-whole, rest.subsec_nanos())
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss` of seconds since the epoch, in UTC.
fn date_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The civil date of a day since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Serde: an optional time as [`rfc3339_nanos`] (use with `skip_serializing_if`).
pub(crate) fn ser_opt_nanos<S: Serializer>(
    t: &Option<SystemTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339_nanos(*t)),
        None => s.serialize_none(),
    }
}

/// Serde: a time as [`rfc3339_seconds`].
pub(crate) fn ser_seconds<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_seconds(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn formats_as_go_does() {
        let cases = [
            (at(0, 0), "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
            // ECS's documented examples.
            (
                at(1_601_597_707, 620_912_337),
                "2020-10-02T00:15:07.620912337Z",
                "2020-10-02T00:15:07Z",
            ),
            (
                at(1_601_599_386, 312_884_650),
                "2020-10-02T00:43:06.31288465Z",
                "2020-10-02T00:43:06Z",
            ),
            (
                at(1_631_033_864, 0),
                "2021-09-07T16:57:44Z",
                "2021-09-07T16:57:44Z",
            ),
            (
                at(951_782_400, 500_000_000),
                "2000-02-29T00:00:00.5Z",
                "2000-02-29T00:00:00Z",
            ),
            (
                at(4_102_444_799, 1),
                "2099-12-31T23:59:59.000000001Z",
                "2099-12-31T23:59:59Z",
            ),
        ];
        for (t, nanos, secs) in cases {
            assert_eq!(rfc3339_nanos(t), nanos);
            assert_eq!(rfc3339_seconds(t), secs);
        }
    }

    #[test]
    fn times_before_the_epoch() {
        let t = UNIX_EPOCH - Duration::new(1, 250_000_000);
        assert_eq!(rfc3339_nanos(t), "1969-12-31T23:59:58.75Z");
        assert_eq!(
            rfc3339_seconds(UNIX_EPOCH - Duration::from_secs(86_400)),
            "1969-12-31T00:00:00Z"
        );
    }
}
