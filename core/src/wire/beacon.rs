//! A beacon: one event as it travels on the `/tr` wire, borrowed while the pixel encodes it and
//! owned once the collector has decoded it.

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
