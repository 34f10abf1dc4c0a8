//! The overview's revenue chart: paid invoices per UTC day as SVG bars, laid out here and
//! drawn by the template (no chart service, no script, escaped like every other value).

use time::OffsetDateTime;

use super::format::{date, money};

pub const WIDTH: i64 = 900;
pub const HEIGHT: i64 = 240;
const LEFT: i64 = 70;
const BOTTOM: i64 = 28;
const TOP: i64 = 12;

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    /// `12 March 2026: $49.00`, the bar's tooltip and accessible name.
    pub label: String,
}

pub struct Tick {
    pub x: i64,
    pub label: String,
    /// `start`, `middle` or `end`, so the first and last labels stay inside the picture.
    pub anchor: &'static str,
}

pub struct RevenueChart {
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub max_label: String,
    pub total_label: String,
    pub summary: String,
    pub baseline: i64,
    pub left: i64,
    pub top: i64,
    pub right: i64,
    pub width: i64,
    pub height: i64,
}

/// Lays out `days` bars ending today from `(day since epoch, amount)` in one currency.
pub fn revenue(
    by_day: &[(i64, i64)],
    currency: &str,
    today: OffsetDateTime,
    days: i64,
) -> RevenueChart {
    let last = today.unix_timestamp().div_euclid(86_400);
    let first = last - (days - 1);
    let mut amounts = vec![0i64; usize::try_from(days).unwrap_or(0)];
    for (day, amount) in by_day {
        if (first..=last).contains(day) {
            let index = usize::try_from(day - first).unwrap_or(0);
            amounts[index] = amounts[index].saturating_add(*amount);
        }
    }
    let max = amounts.iter().copied().max().unwrap_or(0);
    let total: i64 = amounts.iter().sum();
    let plot_width = WIDTH - LEFT - 10;
    let plot_height = HEIGHT - BOTTOM - TOP;
    let slot = plot_width / days.max(1);
    let day_at =
        |index: i64| OffsetDateTime::from_unix_timestamp((first + index) * 86_400).unwrap_or(today);
    let bars = amounts
        .iter()
        .enumerate()
        .filter(|(_, amount)| **amount > 0)
        .map(|(index, amount)| {
            let index = i64::try_from(index).unwrap_or(0);
            // At least 2px, so a small day is still visible next to a big one.
            let height = if max == 0 {
                0
            } else {
                ((i128::from(*amount) * i128::from(plot_height)) / i128::from(max)).max(2) as i64
            };
            Bar {
                x: LEFT + index * slot + 1,
                y: TOP + plot_height - height,
                width: (slot - 2).max(1),
                height,
                label: format!("{}: {}", date(day_at(index)), money(*amount, currency)),
            }
        })
        .collect();
    let ticks = [(0, "start"), (days / 2, "middle"), (days - 1, "end")]
        .into_iter()
        .map(|(index, anchor)| Tick {
            x: LEFT + index * slot + if anchor == "end" { slot } else { 0 },
            label: date(day_at(index)),
            anchor,
        })
        .collect();
    RevenueChart {
        bars,
        ticks,
        max_label: money(max, currency),
        total_label: money(total, currency),
        summary: format!(
            "Revenue per day over the last {days} days: {} in total, at most {} in one day.",
            money(total, currency),
            money(max, currency)
        ),
        baseline: TOP + plot_height,
        left: LEFT,
        top: TOP,
        right: WIDTH - 10,
        width: WIDTH,
        height: HEIGHT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_biggest_day_fills_the_plot_and_empty_days_draw_nothing() {
        let today = OffsetDateTime::from_unix_timestamp(1_773_324_300).expect("time");
        let day = today.unix_timestamp() / 86_400;
        let chart = revenue(
            &[(day, 4900), (day - 1, 9800), (day - 200, 1)],
            "usd",
            today,
            90,
        );
        assert_eq!(
            chart.bars.len(),
            2,
            "only days with revenue inside the window"
        );
        let tallest = chart.bars.iter().map(|b| b.height).max().expect("bars");
        assert_eq!(tallest, HEIGHT - BOTTOM - TOP);
        assert_eq!(chart.total_label, "$147.00");
        assert!(chart.bars[1].label.starts_with("12 March 2026: $49.00"));
    }
}
