//! How the reports write a number: rounded, never `-0`, a ratio only of something.

/// `x` rounded to `places` decimals (and never `-0`: an empty `f64` sum is `-0.0`).
pub(super) fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    let r = (x * f).round() / f;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// `part / whole` to 4 decimals; `None` of nothing.
pub(super) fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64, 4))
}
