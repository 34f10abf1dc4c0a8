//! The printed report: plain text, one metric per line under a few headings.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Report {
    lines: Vec<(String, Option<String>)>,
}

impl Report {
    pub fn heading(&mut self, text: impl Into<String>) {
        self.lines.push((text.into(), None));
    }

    pub fn metric(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.lines.push((name.into(), Some(value.into())));
    }

    /// Another report's lines after these.
    pub fn append(&mut self, other: Report) {
        self.lines.extend(other.lines);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .lines
            .iter()
            .filter(|(_, value)| value.is_some())
            .map(|(name, _)| name.chars().count())
            .max()
            .unwrap_or(0);
        for (at, (name, value)) in self.lines.iter().enumerate() {
            match value {
                Some(value) => writeln!(f, "  {name:<width$}  {value}")?,
                None if at == 0 => writeln!(f, "{name}")?,
                None => writeln!(f, "\n{name}")?,
            }
        }
        Ok(())
    }
}

pub fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Microseconds per unit of work, with the total: `123 µs (2.46 s in total)`.
pub fn per(total: Duration, count: usize) -> String {
    format!(
        "{:.0} µs ({} in total over {count})",
        micros_per(total, count),
        seconds(total)
    )
}

pub fn micros_per(total: Duration, count: usize) -> f64 {
    total.as_secs_f64() * 1e6 / count.max(1) as f64
}

pub fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Compares a CPU cost per delivery with a tenth of the Node reference range.
pub fn verdict(micros: f64, reference_low: f64, reference_high: f64) -> String {
    let (low, high) = (reference_low / 10.0, reference_high / 10.0);
    let range = format!(
        "target ≤ {low:.0}–{high:.0} µs, a tenth of Node's ≈{reference_low:.0}–{reference_high:.0} µs"
    );
    if micros <= low {
        format!("met ({range})")
    } else if micros <= high {
        format!("met against the upper reference only ({range})")
    } else {
        format!("NOT met: {:.1}× the upper target ({range})", micros / high)
    }
}

/// Compares tollgate's CPU per delivery with the reference's, measured in the same run.
pub fn paired_verdict(tollgate: f64, reference: f64) -> String {
    let ratio = tollgate / reference.max(f64::MIN_POSITIVE);
    let reading = format!("{ratio:.3} ({tollgate:.0} µs against {reference:.0} µs)");
    if ratio <= 0.1 {
        format!("{reading}: met (at most 0.100)")
    } else {
        format!("{reading}: NOT met (over 0.100)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenth_of_the_reference_meets_the_paired_target_and_more_does_not() {
        assert_eq!(
            paired_verdict(87.0, 870.0),
            "0.100 (87 µs against 870 µs): met (at most 0.100)"
        );
        assert_eq!(
            paired_verdict(96.0, 870.0),
            "0.110 (96 µs against 870 µs): NOT met (over 0.100)"
        );
    }
}
