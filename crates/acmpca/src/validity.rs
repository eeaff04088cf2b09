//! `Validity` and `ValidityNotBefore`: a value and how it counts, to Unix seconds.

use berth_awsproto::ApiError;
use serde::Deserialize;

use crate::errors::{invalid_args, missing, validation};
use crate::records::ValidityPeriodType;

const DAY: i64 = 86_400;
/// 9999-12-31T23:59:59Z: the last second a certificate can hold.
pub(crate) const LAST_SECOND: i64 = 253_402_300_799;

/// A `Validity` as given.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ValidityIn {
    value: Option<i64>,
    #[serde(rename = "Type")]
    kind: Option<ValidityPeriodType>,
}

impl ValidityIn {
    #[cfg(test)]
    pub(crate) fn new(value: i64, kind: ValidityPeriodType) -> ValidityIn {
        ValidityIn {
            value: Some(value),
            kind: Some(kind),
        }
    }

    fn parts(&self, member: &str) -> Result<(i64, ValidityPeriodType), ApiError> {
        let value = self
            .value
            .ok_or_else(|| missing(&format!("{member}.Value")))?;
        let kind = self
            .kind
            .ok_or_else(|| missing(&format!("{member}.Type")))?;
        if value < 1 {
            let m = format!("{member}.Value");
            return Err(validation(
                &m,
                "Member must have value greater than or equal to 1",
            ));
        }
        Ok((value, kind))
    }
}

/// When a certificate valid for `v` from `now` ends.
pub(crate) fn end(v: &ValidityIn, member: &str, now: i64) -> Result<i64, ApiError> {
    let (value, kind) = v.parts(member)?;
    let end = match kind {
        ValidityPeriodType::Absolute => Some(value),
        ValidityPeriodType::EndDate => end_date(value),
        ValidityPeriodType::Days => value.checked_mul(DAY).and_then(|d| now.checked_add(d)),
        ValidityPeriodType::Months => add_months(now, value),
        ValidityPeriodType::Years => value.checked_mul(12).and_then(|m| add_months(now, m)),
    };
    end.filter(|t| *t <= LAST_SECOND).ok_or_else(|| {
        invalid_args(format!(
            "{member}: {value} {kind} is not a date a certificate can hold"
        ))
    })
}

/// When a certificate starts, from `ValidityNotBefore`: an explicit date only.
pub(crate) fn start(v: &ValidityIn, member: &str) -> Result<i64, ApiError> {
    let (value, kind) = v.parts(member)?;
    let start = match kind {
        ValidityPeriodType::Absolute => Some(value),
        ValidityPeriodType::EndDate => end_date(value),
        _ => {
            return Err(invalid_args(format!(
                "{member}.Type must be ABSOLUTE or END_DATE, not {kind}"
            )))
        }
    };
    start.filter(|t| *t <= LAST_SECOND).ok_or_else(|| {
        invalid_args(format!(
            "{member}: {value} is not a date a certificate can hold"
        ))
    })
}

/// `YYYYMMDDHHMMSS` as Unix seconds.
fn end_date(v: i64) -> Option<i64> {
    let (date, time) = (v / 1_000_000, v % 1_000_000);
    let (y, m, d) = (date / 10_000, date / 100 % 100, date % 100);
    let (hh, mm, ss) = (time / 10_000, time / 100 % 100, time % 100);
    let valid = (1950..=9999).contains(&y)
        && (1..=12).contains(&m)
        && (1..=days_in_month(y, m)).contains(&d)
        && hh < 24
        && mm < 60
        && ss < 60;
    valid.then(|| days_from_civil(y, m, d) * DAY + hh * 3600 + mm * 60 + ss)
}

/// `t` plus `months` calendar months, the day clamped to the month's last.
fn add_months(t: i64, months: i64) -> Option<i64> {
    let (days, secs) = (t.div_euclid(DAY), t.rem_euclid(DAY));
    let (y, m, d) = civil_from_days(days);
    let index = y.checked_mul(12)?.checked_add(m - 1)?.checked_add(months)?;
    let (y2, m2) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    if y2 > 9999 {
        return None;
    }
    let d2 = d.min(days_in_month(y2, m2));
    Some(days_from_civil(y2, m2, d2) * DAY + secs)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ValidityPeriodType as T;

    /// 2024-01-31T12:00:00Z.
    const NOW: i64 = 1_706_702_400;

    #[test]
    fn validity_ends() {
        let table = [
            (1, T::Days, Some(NOW + DAY)),
            (365, T::Days, Some(NOW + 365 * DAY)),
            (1, T::Months, Some(1_709_208_000)), // 2024-02-29T12:00:00Z: clamped
            (12, T::Months, Some(1_738_324_800)), // 2025-01-31T12:00:00Z
            (1, T::Years, Some(1_738_324_800)),
            (1_800_000_000, T::Absolute, Some(1_800_000_000)),
            (20301231235959, T::EndDate, Some(1_924_991_999)),
            (20240230000000, T::EndDate, None),
            (20241301000000, T::EndDate, None),
            (2024, T::EndDate, None),
            (10_000, T::Years, None),
            (i64::MAX, T::Days, None),
        ];
        for (value, kind, want) in table {
            let got = end(&ValidityIn::new(value, kind), "Validity", NOW).ok();
            assert_eq!(got, want, "{value} {kind}");
        }
    }

    #[test]
    fn not_before_is_a_date() {
        assert_eq!(
            start(&ValidityIn::new(1_700_000_000, T::Absolute), "V").ok(),
            Some(1_700_000_000)
        );
        assert_eq!(
            start(&ValidityIn::new(20240101000000, T::EndDate), "V").ok(),
            Some(1_704_067_200)
        );
        let e = start(&ValidityIn::new(3, T::Days), "ValidityNotBefore").unwrap_err();
        assert!(e.message.contains("ABSOLUTE or END_DATE"), "{}", e.message);
    }

    #[test]
    fn values_must_be_positive_and_complete() {
        let v = ValidityIn {
            value: Some(0),
            kind: Some(T::Days),
        };
        assert_eq!(
            end(&v, "Validity", NOW).unwrap_err().code,
            "ValidationException"
        );
        let v = ValidityIn {
            value: None,
            kind: Some(T::Days),
        };
        assert!(end(&v, "Validity", NOW)
            .unwrap_err()
            .message
            .contains("Validity.Value"));
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1_000_000, -1, 0, 59, 19_753, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
