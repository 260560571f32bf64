//! The benchmarks' command lines, read one way: `--flag VALUE` pairs, switches that take no
//! value, and (where an example takes them) the arguments after `--`. Each example keeps its own
//! flags, defaults and usage in its doc comment.

use std::str::FromStr;

/// The command line as `(flag, value)` pairs in order, each of `switches` with an empty value (a
/// flag given last without its value gets an empty one too); panics on `--`.
pub fn pairs(switches: &[&str]) -> Vec<(String, String)> {
    let (pairs, rest) = pairs_then_rest(switches);
    assert!(rest.is_none(), "unknown argument --");
    pairs
}

/// `pairs`, and the arguments after `--` when it is given.
pub fn pairs_then_rest(switches: &[&str]) -> (Vec<(String, String)>, Option<Vec<String>>) {
    let mut pairs = Vec::new();
    let mut argv = std::env::args().skip(1);
    while let Some(k) = argv.next() {
        if k == "--" {
            return (pairs, Some(argv.collect()));
        }
        let v = if switches.contains(&k.as_str()) {
            String::new()
        } else {
            argv.next().unwrap_or_default()
        };
        pairs.push((k, v));
    }
    (pairs, None)
}

/// `value` of `flag`, parsed; panics with `FLAG N` when it is not a number.
pub fn number<T: FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| panic!("{flag} N"))
}
