//! Calendar dates and monitoring quarters as the survey writes them. No time zones: imagery
//! and approval dates are civil dates.

use std::fmt;

/// A civil date; orders chronologically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// A checked date.
    ///
    /// # Errors
    /// A message when the month or day does not exist.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, String> {
        if !(1..=12).contains(&month) {
            return Err(format!("month {month} does not exist"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(format!("{year}-{month:02} has no day {day}"));
        }
        Ok(Date { year, month, day })
    }

    /// Parse "2024-06-25", "2024/06/25", "2024.6.25", "20240625", "2024年6月25日", with an
    /// optional time part after a space or "T" (as OGR prints Date and DateTime fields).
    ///
    /// # Errors
    /// A message quoting the text when it is not a date.
    pub fn parse(text: &str) -> Result<Date, String> {
        // Chinese survey tables write 2024年5月1日 as often as 2024-05-01.
        let t = text.trim().replace(['年', '月'], "-").replace('日', " ");
        let day_part = t.split([' ', 'T']).next().unwrap_or("");
        let nums: Vec<&str> = if day_part.len() == 8 && day_part.bytes().all(|b| b.is_ascii_digit())
        {
            vec![&day_part[..4], &day_part[4..6], &day_part[6..]]
        } else {
            day_part.split(['-', '/', '.']).collect()
        };
        let bad = || format!("{text:?} is not a date (expected YYYY-MM-DD)");
        let [y, m, d] = nums.as_slice() else {
            return Err(bad());
        };
        let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u16>(), m.parse::<u8>(), d.parse::<u8>()) else {
            return Err(bad());
        };
        if !(1900..=2200).contains(&y) {
            return Err(bad());
        }
        Date::new(y, m, d).map_err(|r| format!("{text:?}: {r}"))
    }
}

impl Date {
    /// Days since 1970-01-01 (negative before), for date arithmetic.
    pub fn days_since_epoch(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01 (years clamped to 0..=65535).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: year.clamp(0, 65_535) as u16,
            month,
            day,
        }
    }

    /// The date `days` later (earlier when negative).
    pub fn plus_days(&self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A monitoring quarter ("2024Q2").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: u16,
    pub q: u8,
}

impl Quarter {
    /// Parse "2024Q2", "2024-Q2" or "2024q2".
    ///
    /// # Errors
    /// A message quoting the text when it is not a quarter.
    pub fn parse(text: &str) -> Result<Quarter, String> {
        let t = text.trim().to_ascii_uppercase();
        let bad = || format!("{text:?} is not a quarter (expected e.g. \"2024Q2\")");
        let (y, q) = t.split_once('Q').ok_or_else(bad)?;
        let y = y.trim_end_matches('-');
        let (Ok(year), Ok(q)) = (y.parse::<u16>(), q.parse::<u8>()) else {
            return Err(bad());
        };
        if !(1900..=2200).contains(&year) || !(1..=4).contains(&q) {
            return Err(bad());
        }
        Ok(Quarter { year, q })
    }

    /// First and last day of the quarter.
    pub fn span(&self) -> (Date, Date) {
        let m0 = 3 * (self.q - 1) + 1;
        let last = days_in_month(self.year, m0 + 2);
        (
            Date {
                year: self.year,
                month: m0,
                day: 1,
            },
            Date {
                year: self.year,
                month: m0 + 2,
                day: last,
            },
        )
    }

    /// The quarter before this one.
    pub fn previous(&self) -> Quarter {
        if self.q == 1 {
            Quarter {
                year: self.year.saturating_sub(1),
                q: 4,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q - 1,
            }
        }
    }

    /// The dispatch window: the first ten days of the next quarter's first month (April, July,
    /// October, and January of the next year for Q4, which goes with the annual campaign).
    pub fn dispatch_window(&self) -> (Date, Date) {
        let (year, month) = if self.q == 4 {
            (self.year + 1, 1)
        } else {
            (self.year, 3 * self.q + 1)
        };
        (
            Date {
                year,
                month,
                day: 1,
            },
            Date {
                year,
                month,
                day: 10,
            },
        )
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_epoch_round_trip_over_leap_years() {
        let d = |y, m, dd| Date::new(y, m, dd).unwrap();
        assert_eq!(d(1970, 1, 1).days_since_epoch(), 0);
        assert_eq!(d(2000, 3, 1).days_since_epoch(), 11_017);
        assert_eq!(d(2024, 2, 28).plus_days(1), d(2024, 2, 29));
        assert_eq!(d(2024, 2, 29).plus_days(1), d(2024, 3, 1));
        assert_eq!(d(2023, 12, 31).plus_days(90), d(2024, 3, 30));
        for n in (-700_000..2_000_000).step_by(997) {
            assert_eq!(Date::from_days_since_epoch(n).days_since_epoch(), n);
        }
    }

    #[test]
    fn dates_in_survey_spellings() {
        let d = Date::new(2024, 6, 25).unwrap();
        for t in [
            "2024-06-25",
            "2024/06/25",
            "2024.6.25",
            "20240625",
            "2024/06/25 00:00:00",
            "2024-06-25T08:00:00Z",
            "2024年6月25日",
            "2024年06月25日 08:00:00",
        ] {
            assert_eq!(Date::parse(t), Ok(d), "{t}");
        }
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("June 2024").is_err());
        assert!(Date::parse("2024年6月").is_err());
        assert!(Date::parse("").is_err());
        assert!(Date::parse("2024-13-01").is_err());
        assert!(Date::parse("2024-03-20") < Date::parse("2024-06-25"));
    }

    #[test]
    fn quarters_and_dispatch_windows() {
        let q = Quarter::parse("2024Q2").unwrap();
        assert_eq!(q.to_string(), "2024Q2");
        assert_eq!(Quarter::parse("2024-q4").unwrap().q, 4);
        for bad in ["2024Q5", "2024Q0", "Q2", "2024", "24Q1", "2024Q"] {
            assert!(Quarter::parse(bad).is_err(), "{bad}");
        }
        let (a, b) = q.span();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2024-04-01".into(), "2024-06-30".into())
        );
        let (a, b) = q.dispatch_window();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2024-07-01".into(), "2024-07-10".into())
        );
        let (a, _) = Quarter::parse("2024Q4").unwrap().dispatch_window();
        assert_eq!(a.to_string(), "2025-01-01");
    }
}
