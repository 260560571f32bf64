//! What a Purchase is worth: its currency and value read from `custom_data`, and sums per
//! currency.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::figures::round;
use crate::ports::Row;

/// The currency of a Purchase value without one (ISO 4217's "no currency").
const NO_CURRENCY: &str = "XXX";

/// `value` and `currency` of a Purchase.
#[derive(Default, Deserialize)]
struct PurchaseData {
    value: Option<Value>,
    currency: Option<String>,
}

/// A Purchase's currency and value.
pub(super) type Amount = (String, f64);

/// The [`Amount`] of a Purchase row, `None` without a finite value.
pub(super) fn purchase(row: &Row<'_>) -> Option<Amount> {
    if row.purchase_data.len() <= 2 {
        return None;
    }
    let pd: PurchaseData = serde_json::from_str(row.purchase_data).unwrap_or_default();
    let value = match pd.value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !value.is_finite() {
        return None;
    }
    let currency = pd
        .currency
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .unwrap_or_else(|| NO_CURRENCY.to_owned());
    Some((currency, value))
}

/// Sums per currency, as a JSON object of amounts rounded to cents.
#[derive(Clone, Debug, Default)]
pub(super) struct Money(pub(super) BTreeMap<String, f64>);

impl Money {
    pub(super) fn add(&mut self, currency: &str, value: f64) {
        *self.0.entry(currency.to_owned()).or_insert(0.0) += value;
    }
    pub(super) fn json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(c, v)| (c.clone(), json!(round(*v, 2))))
                .collect(),
        )
    }
}
