//! What a Purchase is worth: its currency and value read from `custom_data`, and sums per
//! currency.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::figures::round;
use crate::ports::Row;

/// A Purchase's currency and value.
pub(super) type Amount = crate::ports::people::Amount;

/// The [`Amount`] of a Purchase row, `None` without a finite value (the rule is the
/// rollups', [`crate::ports::rollup::amount`], so the reports that scan and those that read the
/// rollups count the same revenue).
pub(super) fn purchase(row: &Row<'_>) -> Option<Amount> {
    crate::ports::rollup::amount(row)
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
