//! How money and times are written on the pages, in one place: amounts are integer minor
//! units with their currency's exponent (invariant 6), times are UTC everywhere.

use time::OffsetDateTime;
use time::macros::format_description;
use tollgate_core::money::{Currency, Money};
use tollgate_core::plan::Plan;

/// Digits after the decimal point of a currency (ISO 4217 exponents Stripe uses).
fn exponent(currency: &str) -> u32 {
    Currency::parse(currency).map_or(2, |c| c.exponent())
}

/// `$49.00`, `€9.50`, `¥500`, `12.345 KWD`; negative amounts as `−$5.00` (core's `Money::display`).
pub fn money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => Money::new(minor, currency).display(),
        Err(_) => format!("{minor} {currency}"),
    }
}

/// A price as a label: whole amounts without decimals (`$49`), others in full (`$9.50`).
pub fn price(minor: i64, currency: &str) -> String {
    let unit = 10i64.pow(exponent(currency));
    let text = money(minor, currency);
    if minor % unit == 0 && exponent(currency) > 0 {
        text.rsplit_once('.')
            .map(|(whole, rest)| {
                // Keep a trailing currency code (`49 CHF`).
                let code = rest.split_once(' ').map(|(_, c)| format!(" {c}"));
                format!("{whole}{}", code.unwrap_or_default())
            })
            .unwrap_or(text)
    } else {
        text
    }
}

/// `$49/month`, from the catalog.
pub fn plan_price(plan: &Plan) -> String {
    format!(
        "{}/{}",
        price(plan.amount, &plan.currency),
        plan.interval.as_str()
    )
}

/// `12 March 2026` (UTC).
pub fn date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(format_description!(
        "[day padding:none] [month repr:long] [year]"
    ))
    .unwrap_or_else(|_| at.date().to_string())
}

/// `2026-03-12 14:05 UTC`.
pub fn datetime(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_else(|_| at.to_string())
}

pub fn opt_date(at: Option<OffsetDateTime>) -> String {
    at.map(date).unwrap_or_else(|| "—".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_use_their_currency_exponent_and_symbol() {
        assert_eq!(money(4900, "usd"), "$49.00");
        assert_eq!(money(123_456_789, "usd"), "$1,234,567.89");
        assert_eq!(money(500, "jpy"), "¥500");
        assert_eq!(money(12345, "kwd"), "12.345 KWD");
        assert_eq!(money(-500, "eur"), "−€5.00");
        assert_eq!(money(4900, "chf"), "49.00 CHF");
    }

    #[test]
    fn whole_prices_drop_their_cents() {
        assert_eq!(price(4900, "usd"), "$49");
        assert_eq!(price(950, "usd"), "$9.50");
        assert_eq!(price(4900, "chf"), "49 CHF");
        assert_eq!(price(500, "jpy"), "¥500");
    }

    #[test]
    fn times_are_written_in_utc() {
        let at = OffsetDateTime::from_unix_timestamp(1_773_324_300).expect("time");
        assert_eq!(date(at), "12 March 2026");
        assert_eq!(datetime(at), "2026-03-12 14:05 UTC");
        let elsewhere = at.to_offset(time::UtcOffset::from_hms(9, 0, 0).expect("offset"));
        assert_eq!(datetime(elsewhere), "2026-03-12 14:05 UTC");
    }
}
