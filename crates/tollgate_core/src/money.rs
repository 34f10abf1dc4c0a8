//! Money: integer minor units with their currency, each currency's exponent, and the one place
//! amounts are formatted for people. No floating point anywhere money flows.

use serde::{Deserialize, Serialize};

/// A lower-case ISO 4217 code, as Stripe writes it (`usd`, `jpy`, `kwd`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a currency code: use three letters such as usd")]
pub struct InvalidCurrency;

/// Stripe's zero-decimal currencies (https://docs.stripe.com/currencies#zero-decimal).
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
/// Stripe's three-decimal currencies (https://docs.stripe.com/currencies#three-decimal).
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

impl Currency {
    /// Accepts three ASCII letters in either case and keeps them lower-case.
    pub fn parse(text: &str) -> Result<Self, InvalidCurrency> {
        if text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(InvalidCurrency)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many decimal places the currency's minor unit has (USD 2, JPY 0, KWD 3).
    pub fn exponent(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.0.as_str()) {
            0
        } else if THREE_DECIMAL.contains(&self.0.as_str()) {
            3
        } else {
            2
        }
    }

    fn symbol(&self) -> Option<&'static str> {
        Some(match self.0.as_str() {
            "usd" => "$",
            "eur" => "€",
            "gbp" => "£",
            "jpy" => "¥",
            _ => return None,
        })
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in a currency's minor units (4900 usd = $49.00; 500 jpy = ¥500).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// For people: `$49.00`, `¥500`, `1.250 KWD`, `−$3.10` (a true minus sign); thousands
    /// grouped with commas. The one formatter of amounts: the API's labels and the pages use it.
    pub fn display(&self) -> String {
        let exponent = self.currency.exponent();
        let scale = 10_u64.pow(exponent);
        let magnitude = self.minor.unsigned_abs();
        let whole = group_thousands(magnitude / scale);
        let number = if exponent == 0 {
            whole
        } else {
            format!(
                "{whole}.{:0width$}",
                magnitude % scale,
                width = exponent as usize
            )
        };
        let sign = if self.minor < 0 { "\u{2212}" } else { "" };
        match self.currency.symbol() {
            Some(symbol) => format!("{sign}{symbol}{number}"),
            None => format!(
                "{sign}{number} {}",
                self.currency.as_str().to_ascii_uppercase()
            ),
        }
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn money(minor: i64, currency: &str) -> Money {
        Money::new(minor, Currency::parse(currency).expect("currency"))
    }

    #[test]
    fn each_currency_knows_its_exponent() {
        assert_eq!(Currency::parse("USD").expect("usd").exponent(), 2);
        assert_eq!(Currency::parse("jpy").expect("jpy").exponent(), 0);
        assert_eq!(Currency::parse("kwd").expect("kwd").exponent(), 3);
    }

    #[test]
    fn amounts_are_shown_in_their_currency_format() {
        assert_eq!(money(4900, "usd").display(), "$49.00");
        assert_eq!(money(123_456_789, "usd").display(), "$1,234,567.89");
        assert_eq!(money(500, "jpy").display(), "¥500");
        assert_eq!(money(1250, "kwd").display(), "1.250 KWD");
        assert_eq!(money(-310, "eur").display(), "\u{2212}€3.10");
        assert_eq!(money(4900, "chf").display(), "49.00 CHF");
        assert_eq!(money(5, "usd").display(), "$0.05");
    }

    #[test]
    fn garbage_is_not_a_currency() {
        for text in ["", "us", "usdd", "u$d", "12a"] {
            assert!(Currency::parse(text).is_err(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn the_display_form_reads_back_as_the_same_minor_units(minor in -10_000_000_000_i64..10_000_000_000) {
            let shown = money(minor, "usd").display();
            let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
            let read: i64 = digits.parse().expect("digits");
            prop_assert_eq!(if shown.starts_with('\u{2212}') { -read } else { read }, minor);
        }
    }
}
