//! The `/tr` wire format (SPEC §4): encoding a [`Beacon`] into Meta's exact query string, and
//! decoding a query string or form body back into a [`Beacon`] (the collector's side).
//!
//! Parameter order on the wire: `id, ev, dl, rl, if, ts, cd[...], sw, sh, ud[...], v, r, a, ec,
//! fbp, fbc, it, dpo, dpoco, dpost, eid, tm, rqm`. Optional parameters appear only when set.

use std::borrow::Cow;

/// Meta's default collection endpoint.
pub const META_ENDPOINT: &str = "https://www.facebook.com/tr/";

/// A URL (endpoint + `?` + query) at or over this many characters goes as a POST body.
pub const MAX_GET_URL: usize = 2048;

/// Limited Data Use settings (`fbq('dataProcessingOptions', ...)`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dpo<S = String> {
    /// `["LDU"]` or empty (LDU explicitly off).
    pub options: Vec<S>,
    /// `dpoco`: 0 means "geolocate".
    pub country: i64,
    /// `dpost`: 0 means "geolocate".
    pub state: i64,
}

/// One event as it travels on the wire. Values are the decoded (not percent-encoded) strings:
/// owned (`Beacon<String>`, what the decoder returns) or borrowed (`Beacon<&str>`, what the pixel
/// encodes without copying the page's strings).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Beacon<S = String> {
    pub id: S,
    pub ev: S,
    pub dl: S,
    pub rl: S,
    pub in_iframe: bool,
    /// Milliseconds since the Unix epoch, when the page called the command.
    pub ts: u64,
    /// Custom data: key and value as printed (arrays and objects as JSON text).
    pub cd: Vec<(S, S)>,
    pub sw: Option<u32>,
    pub sh: Option<u32>,
    /// Hashed user data: canonical key and 64-hex SHA-256.
    pub ud: Vec<(S, S)>,
    pub v: S,
    pub r: S,
    pub a: Option<S>,
    pub ec: u32,
    pub fbp: Option<S>,
    pub fbc: Option<S>,
    pub it: Option<u64>,
    pub dpo: Option<Dpo<S>>,
    pub eid: Option<S>,
    pub tm: Option<u8>,
    pub rqm: Option<S>,
}

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

impl<S: AsRef<str>> Beacon<S> {
    /// The query string, without a leading `?`, in Meta's parameter order.
    pub fn encode(&self) -> String {
        self.write(false)
    }

    /// The same parameters, one `name: value` per line and not percent-encoded, for debug mode.
    pub fn describe(&self) -> String {
        self.write(true)
    }

    fn write(&self, readable: bool) -> String {
        let mut q = Query {
            out: String::with_capacity(512),
            readable,
        };
        q.push("id", self.id.as_ref());
        q.push("ev", self.ev.as_ref());
        q.push("dl", self.dl.as_ref());
        q.push("rl", self.rl.as_ref());
        q.push("if", if self.in_iframe { "true" } else { "false" });
        q.push_num("ts", self.ts);
        for (k, v) in &self.cd {
            q.push_bracket("cd", k.as_ref(), v.as_ref());
        }
        if let Some(sw) = self.sw {
            q.push_num("sw", sw.into());
        }
        if let Some(sh) = self.sh {
            q.push_num("sh", sh.into());
        }
        for (k, v) in &self.ud {
            q.push_bracket("ud", k.as_ref(), v.as_ref());
        }
        q.push("v", self.v.as_ref());
        q.push("r", self.r.as_ref());
        q.opt("a", &self.a);
        q.push_num("ec", self.ec.into());
        q.opt("fbp", &self.fbp);
        q.opt("fbc", &self.fbc);
        if let Some(it) = self.it {
            q.push_num("it", it);
        }
        if let Some(dpo) = &self.dpo {
            let mut options = String::new();
            for (i, o) in dpo.options.iter().enumerate() {
                if i > 0 {
                    options.push(',');
                }
                options.push_str(o.as_ref());
            }
            q.push("dpo", &options);
            if !dpo.options.is_empty() {
                q.push_signed("dpoco", dpo.country);
                q.push_signed("dpost", dpo.state);
            }
        }
        q.opt("eid", &self.eid);
        if let Some(tm) = self.tm {
            q.push_num("tm", tm.into());
        }
        q.opt("rqm", &self.rqm);
        q.out
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

/// Decode `%XX` escapes and `+`. Invalid UTF-8 after decoding is an error.
pub fn percent_decode(s: &str) -> Result<String, DecodeError> {
    decode_component(s).map(Cow::into_owned)
}

/// [`percent_decode`], borrowing `s` when it holds nothing to decode. The runs between escapes
/// are copied whole, and only a decoded text is checked for UTF-8 (`s` itself is a `str`).
pub fn decode_component(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    let special = |b: &u8| *b == b'%' || *b == b'+';
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(special) else {
        return Ok(Cow::Borrowed(s));
    };
    let (plain, mut rest) = bytes.split_at_checked(first).unwrap_or((bytes, &[]));
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(plain);
    loop {
        match rest {
            [] => break,
            [b'+', tail @ ..] => {
                out.push(b' ');
                rest = tail;
            }
            [b'%', hi, lo, tail @ ..] => match (hex_val(*hi), hex_val(*lo)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    rest = tail;
                }
                _ => return Err(DecodeError::BadPercentEncoding),
            },
            [b'%', ..] => return Err(DecodeError::BadPercentEncoding),
            _ => {
                // A run up to the next escape (at least this byte, which is none).
                let run = rest.iter().position(special).unwrap_or(rest.len());
                let (text, tail) = rest.split_at_checked(run).unwrap_or((rest, &[]));
                out.extend_from_slice(text);
                rest = tail;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::BadPercentEncoding)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// JavaScript's `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is
/// percent-encoded as UTF-8.
pub fn encode_uri_component(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(hex_upper(b >> 4));
            out.push(hex_upper(b & 0xf));
        }
    }
}

fn hex_upper(n: u8) -> char {
    (if n < 10 { b'0' + n } else { b'A' + n - 10 }) as char
}

/// Writes parameters either percent-encoded for the wire (`a=1&b=2`) or readable for the debug
/// console (`\n  a: 1\n  b: 2`), so both views come from the one encoder.
struct Query {
    out: String,
    readable: bool,
}

impl Query {
    fn name(&mut self, name: &str) {
        if self.readable {
            self.out.push_str("\n  ");
        } else if !self.out.is_empty() {
            self.out.push('&');
        }
        self.out.push_str(name);
    }
    fn text(&mut self, value: &str) {
        if self.readable {
            self.out.push_str(value);
        } else {
            encode_uri_component(value, &mut self.out);
        }
    }
    fn eq(&mut self) {
        self.out.push_str(if self.readable { ": " } else { "=" });
    }
    fn push(&mut self, name: &str, value: &str) {
        self.name(name);
        self.eq();
        self.text(value);
    }
    fn opt<S: AsRef<str>>(&mut self, name: &str, value: &Option<S>) {
        if let Some(v) = value {
            self.push(name, v.as_ref());
        }
    }
    fn push_bracket(&mut self, prefix: &str, key: &str, value: &str) {
        self.name(prefix);
        self.out.push('[');
        self.text(key);
        self.out.push(']');
        self.eq();
        self.text(value);
    }
    fn push_num(&mut self, name: &str, n: u64) {
        self.name(name);
        self.eq();
        push_u64(&mut self.out, n);
    }
    fn push_signed(&mut self, name: &str, n: i64) {
        self.name(name);
        self.eq();
        if n < 0 {
            self.out.push('-');
        }
        push_u64(&mut self.out, n.unsigned_abs());
    }
}

/// A run of ASCII digits as a number (no sign, no spaces); `None` when empty, not digits, or too
/// big. Hand-written because `str::parse` costs more than it should in wasm.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// An optionally negative [`parse_u64`].
pub fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix("-") {
        Some(digits) => i64::try_from(parse_u64(digits)?).ok().map(|n| -n),
        None => i64::try_from(parse_u64(s)?).ok(),
    }
}

/// Decimal digits of `n` without pulling in `core::fmt` (which costs kilobytes in wasm).
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for &d in buf.get(i..).unwrap_or(&[]) {
        out.push(d as char);
    }
}
