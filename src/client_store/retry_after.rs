//! [`parse_retry_after`]: the `Retry-After` header, as delta-seconds or as
//! an HTTP-date (IMF-fixdate).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a `Retry-After` header value asks the client to wait, measured
/// from `now` (the time the response arrived).
///
/// Accepts the two forms of RFC 9110, section 10.2.3: delta-seconds
/// (`"120"`) and an HTTP-date in the IMF-fixdate form
/// (`"Sun, 06 Nov 1994 08:49:37 GMT"`). A date in the past gives
/// `Duration::ZERO`; a delta too large for a `u64` saturates. Anything else
/// (an empty value, a negative or fractional number, the obsolete RFC 850 and
/// asctime date forms, an impossible date) gives `None`, so the caller falls
/// back to its own backoff.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use ttlkit::client_store::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// # let _ = SystemTime::now();
/// ```
pub fn parse_retry_after(header_value: &str, now: SystemTime) -> Option<Duration> {
    let value = header_value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only overflow can fail, and a huge delay saturates.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = UNIX_EPOCH + Duration::from_secs(imf_fixdate(value)?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Seconds since the Unix epoch of an IMF-fixdate, which is a fixed layout:
/// `Sun, 06 Nov 1994 08:49:37 GMT` (29 bytes).
fn imf_fixdate(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if b[19] != b':' || b[22] != b':' || &b[25..] != b" GMT" {
        return None;
    }
    let weekday = DAYS.iter().position(|d| d.as_bytes() == &b[..3])?;
    let day = digits(&b[5..7])?;
    let month = MONTHS.iter().position(|m| m.as_bytes() == &b[8..11])? as u64 + 1;
    let year = digits(&b[12..16])?;
    let (hour, minute, second) = (digits(&b[17..19])?, digits(&b[20..22])?, digits(&b[23..25])?);
    // 60 is a leap second, which the format allows.
    if year < 1970 || day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // 1970-01-01 was a Thursday (index 3 from Monday): the name must agree.
    if (days + 3) % 7 != weekday as u64 {
        return None;
    }
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// The number written in ASCII digits `b`, or `None` if one is not a digit.
fn digits(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |n, &c| c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0')))
}

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to `year-month-day` (year at least 1970): whole
/// years, then whole months of the year.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let years = (1970..year).map(|y| if is_leap(y) { 366 } else { 365 }).sum::<u64>();
    let months = (1..month).map(|m| days_in_month(year, m)).sum::<u64>();
    years + months + day - 1
}
