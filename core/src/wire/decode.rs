//! The decoder, the collector's side: a query string or form body into `(name, value)` pairs, and
//! pairs into a [`Beacon`].

use std::borrow::Cow;

use super::beacon::{Beacon, Dpo};
use crate::percent::{decode_component, Malformed};

/// Why a query string could not be decoded into a [`Beacon`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    MissingId,
    MissingEvent,
    BadNumber,
    BadPercentEncoding,
}

impl DecodeError {
    pub fn message(self) -> &'static str {
        match self {
            DecodeError::MissingId => "missing pixel id (id)",
            DecodeError::MissingEvent => "missing event name (ev)",
            DecodeError::BadNumber => {
                "a numeric parameter (ts, sw, sh, ec, it, dpoco, dpost, tm) is not a number"
            }
            DecodeError::BadPercentEncoding => "malformed percent-encoding",
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<Malformed> for DecodeError {
    fn from(_: Malformed) -> DecodeError {
        DecodeError::BadPercentEncoding
    }
}

impl Beacon {
    /// Decode a query string or `application/x-www-form-urlencoded` body (`+` is a space).
    /// Unknown parameters are ignored; a repeated parameter keeps its last value.
    pub fn decode(query: &str) -> Result<Beacon, DecodeError> {
        Beacon::from_pairs(query_pairs(query)?)
    }

    /// Build a beacon from already-decoded `(name, value)` pairs: owned (e.g. a multipart body)
    /// or borrowed where nothing needed decoding ([`query_pairs`]). A value is copied only
    /// when the beacon keeps it as text; a number is read in place.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Beacon, DecodeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str> + Into<String>,
        V: AsRef<str> + Into<String>,
    {
        let mut b = Beacon::default();
        let (mut has_id, mut has_ev) = (false, false);
        let mut dpo: Option<Dpo> = None;
        // Where each `cd`/`ud` key sits in its list once it is long, so a repeat is found in
        // constant time (a scan of the whole list made 6,000 distinct keys quadratic).
        let (mut cd_at, mut ud_at) = (KeyIndex::new(), KeyIndex::new());
        for (k, v) in pairs {
            let name = k.as_ref();
            if bracket_key(name, "cd").is_some() {
                set_pair(&mut b.cd, &mut cd_at, inner_key(k.into()), v.into());
                continue;
            }
            if bracket_key(name, "ud").is_some() {
                set_pair(&mut b.ud, &mut ud_at, inner_key(k.into()), v.into());
                continue;
            }
            let text = v.as_ref();
            match name {
                "id" => {
                    has_id = !text.is_empty();
                    b.id = v.into();
                }
                "ev" => {
                    has_ev = !text.is_empty();
                    b.ev = v.into();
                }
                "dl" => b.dl = v.into(),
                "rl" => b.rl = v.into(),
                "if" => b.in_iframe = text == "true",
                "ts" => b.ts = num(text)?,
                "sw" => b.sw = Some(num(text)?),
                "sh" => b.sh = Some(num(text)?),
                "v" => b.v = v.into(),
                "r" => b.r = v.into(),
                "a" => b.a = Some(v.into()),
                "ec" => b.ec = num(text)?,
                "fbp" => b.fbp = Some(v.into()),
                "fbc" => b.fbc = Some(v.into()),
                "it" => b.it = Some(num(text)?),
                "dpo" => {
                    dpo.get_or_insert_with(Dpo::default).options = if text.is_empty() {
                        Vec::new()
                    } else {
                        text.split(',').map(str::to_owned).collect()
                    }
                }
                "dpoco" => dpo.get_or_insert_with(Dpo::default).country = signed(text)?,
                "dpost" => dpo.get_or_insert_with(Dpo::default).state = signed(text)?,
                "eid" => b.eid = Some(v.into()),
                "tm" => b.tm = Some(num(text)?),
                "rqm" => b.rqm = Some(v.into()),
                _ => {}
            }
        }
        if !has_id {
            return Err(DecodeError::MissingId);
        }
        if !has_ev {
            return Err(DecodeError::MissingEvent);
        }
        // `dpo=` alone turns LDU off (SPEC §2): a `dpoco`/`dpost` beside it means nothing, and the
        // encoder does not write it, so it is not kept either.
        b.dpo = dpo.map(|d| {
            if d.options.is_empty() {
                Dpo::default()
            } else {
                d
            }
        });
        Ok(b)
    }
}

type KeyIndex = std::collections::HashMap<String, usize>;

/// Below this many keys [`set_pair`] finds a repeated key by a linear scan, with no map: a beacon
/// carries a handful of `cd[...]` and `ud[...]` keys, and hashing each (SipHash) cost more than
/// comparing it with the others. Past it the map keeps the work linear (6,000 distinct keys).
const LINEAR_KEYS: usize = 16;

/// Set `key` in `list` (a repeated key keeps its first place and takes the last value).
fn set_pair(list: &mut Vec<(String, String)>, at: &mut KeyIndex, key: String, value: String) {
    let found = if list.len() <= LINEAR_KEYS {
        list.iter().position(|(k, _)| *k == key)
    } else {
        if at.is_empty() {
            for (i, (k, _)) in list.iter().enumerate() {
                at.entry(k.clone()).or_insert(i);
            }
        }
        at.get(&key).copied()
    };
    match found.and_then(|i| list.get_mut(i)) {
        Some(slot) => slot.1 = value,
        None => {
            if !at.is_empty() {
                at.insert(key.clone(), list.len());
            }
            list.push((key, value));
        }
    }
}

/// `cd[value]` → `value`, in the name's own buffer: `name` is one that [`bracket_key`] accepted.
fn inner_key(mut name: String) -> String {
    name.pop();
    name.drain(..3);
    name
}

fn bracket_key<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')
}

fn num<T: core::str::FromStr>(s: &str) -> Result<T, DecodeError> {
    s.parse().map_err(|_| DecodeError::BadNumber)
}

fn signed(s: &str) -> Result<i64, DecodeError> {
    num(s)
}

/// A decoded `(name, value)` pair of a query string, borrowed from it where neither needed
/// decoding (no `%XX`, no `+`).
pub type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Split a query string into decoded `(name, value)` pairs. `+` decodes to a space.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, DecodeError> {
    Ok(query_pairs(query)?
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// [`parse_query`] without copying what needs no decoding: a beacon's names (`id`, `ev`, `dl`…)
/// and most of its values are taken as they stand in the text.
pub fn query_pairs(query: &str) -> Result<Vec<Pair<'_>>, DecodeError> {
    let mut rest = query.strip_prefix('?').unwrap_or(query);
    // One pass over the text finds each pair's end, its first `=`, and whether the name or the
    // value holds anything to decode; only those are decoded (a second pass over them alone).
    let mut out = Vec::with_capacity(32);
    loop {
        let (mut end, mut eq) = (rest.len(), None);
        let (mut name_escaped, mut value_escaped) = (false, false);
        for (i, b) in rest.bytes().enumerate() {
            match b {
                b'&' => {
                    end = i;
                    break;
                }
                b'=' if eq.is_none() => eq = Some(i),
                b'%' | b'+' if eq.is_none() => name_escaped = true,
                b'%' | b'+' => value_escaped = true,
                _ => {}
            }
        }
        let (part, tail) = rest.split_at_checked(end).unwrap_or((rest, ""));
        if !part.is_empty() {
            let (k, v) = match eq.and_then(|at| part.split_at_checked(at)) {
                Some((k, v)) => (k, v.get(1..).unwrap_or("")),
                None => (part, ""),
            };
            out.push((
                if name_escaped {
                    decode_component(k)?
                } else {
                    Cow::Borrowed(k)
                },
                if value_escaped {
                    decode_component(v)?
                } else {
                    Cow::Borrowed(v)
                },
            ));
        }
        // `tail` is empty, or the `&` and what follows it.
        match tail.get(1..) {
            Some(next) => rest = next,
            None => break,
        }
    }
    Ok(out)
}
