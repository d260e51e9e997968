//! Schedule strings (`actw`, `sch`): seven space-separated fields
//! `second minute hour day-of-month month day-of-week year`, each `*`, a
//! number, a range `a-b`, a list `a,b,c`, or a step `*/n` / `a-b/n`
//! (TS-0004 m2m:scheduleEntry, cron-like).

use jiff::Zoned;

const FIELDS: usize = 7;

/// Whether `schedule` is well formed.
pub fn is_valid(schedule: &str) -> bool {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    fields.len() == FIELDS && fields.iter().all(|f| field_matches(f, 0).is_some())
}

/// Whether `now` falls inside the schedule. Malformed schedules match nothing.
pub fn matches(schedule: &str, now: &Zoned) -> bool {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != FIELDS {
        return false;
    }
    // day of week: 0 = Sunday, as cron counts
    let weekday = i64::from(now.weekday().to_sunday_zero_offset());
    let values = [
        i64::from(now.second()),
        i64::from(now.minute()),
        i64::from(now.hour()),
        i64::from(now.day()),
        i64::from(now.month()),
        weekday,
        i64::from(now.year()),
    ];
    fields
        .iter()
        .zip(values)
        .all(|(field, value)| field_matches(field, value) == Some(true))
}

/// `None` when the field is malformed.
fn field_matches(field: &str, value: i64) -> Option<bool> {
    let mut any = false;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<i64>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (i64::MIN, i64::MAX)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().ok()?, b.parse().ok()?)
        } else {
            let n: i64 = range.parse().ok()?;
            (n, if step > 1 { i64::MAX } else { n })
        };
        let base = if low == i64::MIN { 0 } else { low };
        if value >= low && value <= high && (value - base) % step == 0 {
            any = true;
        }
    }
    Some(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Zoned {
        text.parse().unwrap()
    }

    #[test]
    fn schedules() {
        let noon = at("2026-11-22T12:30:15+00:00[UTC]"); // a Sunday
        assert!(matches("* * * * * * *", &noon));
        assert!(!matches("* * * * * * 1984", &noon));
        assert!(matches("* * 8-17 * * * *", &noon));
        assert!(!matches("* * 8-11 * * * *", &noon));
        assert!(matches("* */15 * * * * *", &noon));
        assert!(matches("* * * * * 0,6 *", &noon), "weekend");
        assert!(!matches("* * * * * 1-5 *", &noon), "weekdays");
        assert!(is_valid("0 0 8-17 * * 1-5 *"));
        assert!(!is_valid("* * *"));
        assert!(!is_valid("* * x * * * *"));
    }
}
