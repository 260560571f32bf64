//! Standard events and the checks Meta's pixel makes on their parameters (SPEC §3). Checks only
//! warn: the event is sent either way.

use crate::console::Msg;
use crate::json::Value;

use crate::matching::table::{ascending_steps, find, pack, packed_len, varint};

/// Meta's standard events, one per line (the form `matching::table::find` searches).
pub const STANDARD_EVENTS: &str = "PageView\nViewContent\nSearch\nAddToCart\nAddToWishlist\n\
InitiateCheckout\nAddPaymentInfo\nPurchase\nLead\nCompleteRegistration\nContact\n\
CustomizeProduct\nDonate\nFindLocation\nSchedule\nStartTrial\nSubmitApplication\nSubscribe\n";

/// ISO 4217 active currency codes, concatenated.
const CURRENCIES: &str = "AEDAFNALLAMDANGAOAARSAUDAWGAZNBAMBBDBDTBGNBHDBIFBMDBNDBOBBRLBSDBTNBWPBYNBZDCADCDFCHFCLPCNYCOPCRCCUPCVECZKDJFDKKDOPDZDEGPERNETBEURFJDFKPGBPGELGHSGIPGMDGNFGTQGYDHKDHNLHTGHUFIDRILSINRIQDIRRISKJMDJODJPYKESKGSKHRKMFKPWKRWKWDKYDKZTLAKLBPLKRLRDLSLLYDMADMDLMGAMKDMMKMNTMOPMRUMURMVRMWKMXNMYRMZNNADNGNNIONOKNPRNZDOMRPABPENPGKPHPPKRPLNPYGQARRONRSDRUBRWFSARSBDSCRSDGSEKSGDSHPSLESOSSRDSSPSTNSVCSYPSZLTHBTJSTMTTNDTOPTRYTTDTWDTZSUAHUGXUSDUYUUZSVESVNDVUVWSTXAFXCDXCGXOFXPFYERZARZMWZWGZWL";

pub fn is_standard(name: &str) -> bool {
    find(STANDARD_EVENTS.as_bytes(), name.as_bytes()).is_some()
}

const CURRENCY_COUNT: usize = CURRENCIES.len() / 3;

/// A three-letter upper-case code as a number: `AAA` = 0 ... `ZZZ` = 26³ - 1.
#[allow(clippy::indexing_slicing)] // three bytes, checked by the callers
const fn code_number(c: &[u8]) -> u32 {
    ((c[0] - b'A') as u32 * 26 + (c[1] - b'A') as u32) * 26 + (c[2] - b'A') as u32
}

/// The code numbers of [`CURRENCIES`], ascending as the list is sorted.
#[allow(clippy::indexing_slicing)] // compile time only
const fn currency_numbers() -> [u32; CURRENCY_COUNT] {
    let (bytes, mut out, mut i) = (CURRENCIES.as_bytes(), [0; CURRENCY_COUNT], 0);
    while i < CURRENCY_COUNT {
        out[i] = code_number(&[bytes[3 * i], bytes[3 * i + 1], bytes[3 * i + 2]]);
        i += 1;
    }
    out
}

/// [`CURRENCIES`] as the wasm holds it: varints of the steps between their code numbers, mostly
/// one byte each, a third of the text.
static CURRENCY_STEPS: [u8; packed_len(&ascending_steps(&currency_numbers()))] =
    pack(&ascending_steps(&currency_numbers())).0;

/// A known ISO 4217 code, upper case.
pub fn is_currency(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 3 || !b.iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    let want = code_number(b);
    let (mut steps, mut n) = (&CURRENCY_STEPS[..], 0);
    while let Some(step) = varint(&mut steps) {
        n += step;
        if n >= want {
            return n == want;
        }
    }
    false
}

/// A JSON number, or a string that reads as a finite decimal number.
pub fn is_numeric(v: &Value) -> bool {
    match v {
        Value::Num(_) => true,
        Value::Str(s) => {
            let t = s.trim();
            let t = t.strip_prefix("-").unwrap_or(t);
            let (int, frac) = crate::ascii::split_byte(t, b'.').unwrap_or((t, ""));
            !(int.is_empty() && frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// What is wrong with an event's parameters, as warnings (the event still goes out).
pub fn check(name: &str, custom: Option<&Value>, standard_call: bool) -> Vec<Msg> {
    let mut out = Vec::new();
    if standard_call && !is_standard(name) {
        out.push(Msg::NotStandard);
    }
    if name == "Purchase" {
        let get = |k| custom.and_then(|c| c.get(k));
        if !get("value").is_some_and(is_numeric) {
            out.push(Msg::NeedsValue);
        }
        if !get("currency")
            .and_then(Value::as_str)
            .is_some_and(is_currency)
        {
            out.push(Msg::NeedsCurrency);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    #[test]
    fn currencies() {
        for c in ["USD", "EUR", "GBP", "JPY", "AED", "ZWL", "BRL", "INR"] {
            assert!(is_currency(c), "{c}");
        }
        for c in ["usd", "US", "USDD", "XYZ", "", "SDB"] {
            assert!(!is_currency(c), "{c}");
        }
        assert_eq!(CURRENCIES.len() % 3, 0);
        for c in CURRENCIES.as_bytes().chunks(3) {
            assert!(is_currency(std::str::from_utf8(c).unwrap()), "{c:?}");
        }
        // Every three-letter code is found exactly when the list has it.
        for n in 0..26 * 26 * 26u32 {
            let code: String = [n / 676, n / 26 % 26, n % 26]
                .iter()
                .map(|d| char::from(b'A' + *d as u8))
                .collect();
            let listed = CURRENCIES
                .as_bytes()
                .chunks(3)
                .any(|c| c == code.as_bytes());
            assert_eq!(is_currency(&code), listed, "{code}");
        }
    }

    #[test]
    fn purchase_checks() {
        let ok = parse(r#"{"value":"12.50","currency":"EUR"}"#).unwrap();
        assert!(check("Purchase", Some(&ok), true).is_empty());
        let bad = parse(r#"{"value":"twelve","currency":"euro"}"#).unwrap();
        assert_eq!(check("Purchase", Some(&bad), true).len(), 2);
        assert_eq!(check("Purchase", None, true).len(), 2);
        assert_eq!(check("MyThing", None, true).len(), 1);
        assert!(check("MyThing", None, false).is_empty());
    }
}
