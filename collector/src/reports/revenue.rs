//! Revenue as the rollups keep it: integer micros per currency, summed exactly and written as
//! amounts rounded to cents (what `timeline` and `summary` answer).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::figures::round;
use crate::ports::rollup::MICROS;

/// Micros per currency.
#[derive(Clone, Debug, Default)]
pub(super) struct Revenue(pub(super) BTreeMap<String, i64>);

impl Revenue {
    /// Count a rollup's hour cell of `events` Purchases in `currency` (empty: without a value).
    pub(super) fn add(&mut self, currency: &str, micros: i64) {
        if currency.is_empty() {
            return;
        }
        *self.0.entry(currency.to_owned()).or_insert(0) += micros;
    }

    pub(super) fn amount(micros: i64) -> f64 {
        round(micros as f64 / MICROS, 2)
    }

    pub(super) fn json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(c, v)| (c.clone(), json!(Self::amount(*v))))
                .collect(),
        )
    }
}
