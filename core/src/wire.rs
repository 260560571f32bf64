//! The `/tr` wire format (SPEC §4): encoding a [`Beacon`] into Meta's exact query string, and
//! decoding a query string or form body back into a [`Beacon`] (the collector's side).
//!
//! Parameter order on the wire: `id, ev, dl, rl, if, ts, cd[...], sw, sh, ud[...], v, r, a, ec,
//! fbp, fbc, it, dpo, dpoco, dpost, eid, tm, rqm`. Optional parameters appear only when set.

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
        Beacon::from_pairs(parse_query(query)?)
    }

    /// Build a beacon from already-decoded `(name, value)` pairs (e.g. a multipart body).
    pub fn from_pairs<I>(pairs: I) -> Result<Beacon, DecodeError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut b = Beacon::default();
        let (mut has_id, mut has_ev) = (false, false);
        let mut dpo: Option<Dpo> = None;
        // Where each `cd`/`ud` key sits in its list once it is long, so a repeat is found in
        // constant time (a scan of the whole list made 6,000 distinct keys quadratic).
        let (mut cd_at, mut ud_at) = (KeyIndex::new(), KeyIndex::new());
        for (k, v) in pairs {
            if let Some(key) = bracket_key(&k, "cd") {
                set_pair(&mut b.cd, &mut cd_at, key, v);
                continue;
            }
            if let Some(key) = bracket_key(&k, "ud") {
                set_pair(&mut b.ud, &mut ud_at, key, v);
                continue;
            }
            match k.as_str() {
                "id" => {
                    has_id = !v.is_empty();
                    b.id = v;
                }
                "ev" => {
                    has_ev = !v.is_empty();
                    b.ev = v;
                }
                "dl" => b.dl = v,
                "rl" => b.rl = v,
                "if" => b.in_iframe = v == "true",
                "ts" => b.ts = num(&v)?,
                "sw" => b.sw = Some(num(&v)?),
                "sh" => b.sh = Some(num(&v)?),
                "v" => b.v = v,
                "r" => b.r = v,
                "a" => b.a = Some(v),
                "ec" => b.ec = num(&v)?,
                "fbp" => b.fbp = Some(v),
                "fbc" => b.fbc = Some(v),
                "it" => b.it = Some(num(&v)?),
                "dpo" => {
                    dpo.get_or_insert_with(Dpo::default).options = if v.is_empty() {
                        Vec::new()
                    } else {
                        v.split(',').map(str::to_owned).collect()
                    }
                }
                "dpoco" => dpo.get_or_insert_with(Dpo::default).country = signed(&v)?,
                "dpost" => dpo.get_or_insert_with(Dpo::default).state = signed(&v)?,
                "eid" => b.eid = Some(v),
                "tm" => b.tm = Some(num(&v)?),
                "rqm" => b.rqm = Some(v),
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
fn set_pair(list: &mut Vec<(String, String)>, at: &mut KeyIndex, key: &str, value: String) {
    let found = if list.len() <= LINEAR_KEYS {
        list.iter().position(|(k, _)| k == key)
    } else {
        if at.is_empty() {
            for (i, (k, _)) in list.iter().enumerate() {
                at.entry(k.clone()).or_insert(i);
            }
        }
        at.get(key).copied()
    };
    match found.and_then(|i| list.get_mut(i)) {
        Some(slot) => slot.1 = value,
        None => {
            if !at.is_empty() {
                at.insert(key.to_owned(), list.len());
            }
            list.push((key.to_owned(), value));
        }
    }
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

/// Split a query string into decoded `(name, value)` pairs. `+` decodes to a space.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, DecodeError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = Vec::new();
    for part in query.split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(out)
}

/// Decode `%XX` escapes and `+`. Invalid UTF-8 after decoding is an error.
pub fn percent_decode(s: &str) -> Result<String, DecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|c| hex_val(*c));
                let lo = bytes.get(i + 2).and_then(|c| hex_val(*c));
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(DecodeError::BadPercentEncoding),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::BadPercentEncoding)
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
