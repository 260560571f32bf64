//! Command-line flags and their `COLLECTOR_<FLAG>` environment twins.
//!
//! Every flag documents its default. Parsing never exits the process itself: [`Config::parse_from`]
//! returns a [`CliError`] and `main` prints one line and exits with code 2 (or 0 for `--help`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// One `--pixel` entry: a pixel the collector accepts, and the Conversions API token to relay with.
/// Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct PixelConfig {
    /// Pixel ID, `^[1-9][0-9]{0,25}$`.
    pub id: String,
    /// Access token. `None` (`--pixel <ID>` without `=TOKEN`): events are accepted and stored but
    /// not relayed.
    pub token: Option<String>,
}

impl std::fmt::Debug for PixelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelConfig")
            .field("id", &self.id)
            .field("token", &redacted(self.token.as_ref()))
            .finish()
    }
}

/// The shortest `--admin-token` accepted: long enough that guessing it over HTTP is hopeless
/// (`openssl rand -hex 16` gives 32 characters).
pub const MIN_ADMIN_TOKEN: usize = 16;

/// The admin token `run.sh` and the README's first steps use when none is set: public, so the
/// collector refuses it wherever the admin routes are reachable from another host
/// ([`Config::admin_exposed`]).
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin-token-change-me";

/// The flags whose values are secrets: never echoed in an error.
const SECRET_FLAGS: [&str; 4] = ["--pixel", "--admin-token", "--app-secret", "--server-key"];

/// One `--server-key` entry: a key the store's server may send events of `pixel` with, instead
/// of the pixel's Conversions API access token. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerKey {
    pub pixel: String,
    pub key: String,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("pixel", &self.pixel)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The shortest `--server-key` accepted (like the admin token: guessing it over HTTP is hopeless).
pub const MIN_SERVER_KEY: usize = MIN_ADMIN_TOKEN;

fn redacted<T>(secret: Option<&T>) -> Option<&'static str> {
    secret.map(|_| "<redacted>")
}

/// How hard SQLite pushes each commit to disk (`PRAGMA synchronous` under WAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// fsync the WAL at every commit: an acknowledged event survives `kill -9` and power loss.
    Full,
    /// fsync only at checkpoints: survives `kill -9`; the last commits may be lost on power loss.
    Normal,
}

/// A task the collector runs instead of serving.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Recompute every write-time aggregate (the rollups the funnel, timeline, match-quality,
    /// relay and summary reports read) from the raw events, with progress on stderr, and exit.
    /// Run it with the collector stopped. SQLite only: a PostgreSQL store computes those reports
    /// from its events.
    Rebuild,
}

/// The collector's configuration. Its `Debug` leaves out every token and secret.
#[derive(Clone, Parser)]
#[command(
    name = "collector",
    version,
    about = "First-party collection endpoint for the drop-in Meta Pixel: stores /tr beacons durably in SQLite (or PostgreSQL, shared by several collectors) and relays them to Meta's Conversions API.",
    after_help = "Every flag can also be given as an environment variable COLLECTOR_<FLAG> (dashes become underscores, e.g. COLLECTOR_ADMIN_TOKEN); repeatable flags take a comma-separated list there."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "COLLECTOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database file (created when missing; WAL mode), or a PostgreSQL database shared by
    /// several collectors: `postgres://USER@HOST:PORT/DB` (or `postgresql://`, with libpq's
    /// `?sslmode=...` and other parameters), the password best from `PGPASSWORD` rather than in
    /// the URL. The password is never logged: after parsing, this field holds the URL with it
    /// replaced by `***`, and [`Config::postgres`] the URL itself.
    #[arg(long, env = "COLLECTOR_DB", default_value = "collector.db")]
    pub db: PathBuf,

    /// Connections each collector keeps to PostgreSQL at most (the ingest writer, the relay, the
    /// API and the reports share them). Ignored for SQLite.
    #[arg(long, env = "COLLECTOR_DB_POOL_SIZE", default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=1000))]
    pub db_pool_size: usize,

    /// PEM file of the certificate authorities PostgreSQL's server certificate is checked against
    /// (with `sslmode=prefer` or `require` in the `--db` URL). Default: Mozilla's roots.
    #[arg(long, env = "COLLECTOR_DB_CA_FILE")]
    pub db_ca_file: Option<PathBuf>,

    /// The PostgreSQL URL `--db` gave (with its password, or `PGPASSWORD` added); `None`: SQLite.
    #[arg(skip)]
    pub postgres: Option<DbUrl>,

    /// Directory holding the built pixel (fbevents.js and the files it loads), served at `/`.
    #[arg(long, env = "COLLECTOR_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// Optional static site (e.g. the demo storefront) served at `/` after `--dist`; a directory
    /// serves its index.html. Default: none.
    #[arg(long, env = "COLLECTOR_SITE")]
    pub site: Option<PathBuf>,

    /// `<PIXEL_ID>=<ACCESS_TOKEN>`: accept beacons for this pixel and relay them to the Conversions
    /// API. `<PIXEL_ID>` alone: accept and store, do not relay. Repeatable. Default: none (every
    /// beacon is refused with 403).
    #[arg(long = "pixel", env = "COLLECTOR_PIXEL", value_delimiter = ',', value_parser = parse_pixel, hide_env_values = true)]
    pub pixels: Vec<PixelConfig>,

    /// Base URL of Meta's Graph API.
    #[arg(long, env = "COLLECTOR_GRAPH_URL", default_value = "https://graph.facebook.com", value_parser = parse_http_url)]
    pub graph_url: String,

    /// Allow a plain `http://` `--graph-url` (a local stand-in of the Graph API in tests): the
    /// access token travels in the request body. Default: off, only `https://` is accepted.
    #[arg(long, env = "COLLECTOR_GRAPH_ALLOW_HTTP")]
    pub graph_allow_http: bool,

    /// Graph API version.
    #[arg(long, env = "COLLECTOR_GRAPH_VERSION", default_value = "v26.0", value_parser = parse_graph_version)]
    pub graph_version: String,

    /// Bearer token (at least 16 characters) for the admin routes: `/api/*`, `/metrics` (on
    /// `--listen` or `--admin-listen`), read by the dashboard and the events page. Default: none
    /// (they answer 401). The demo token `demo-admin-token-change-me` is refused unless the
    /// admin routes are served on a loopback address only.
    #[arg(long, env = "COLLECTOR_ADMIN_TOKEN", hide_env_values = true, value_parser = parse_nonempty)]
    pub admin_token: Option<String>,

    /// Serve the admin routes (`/dashboard`, `/api/*`, `/metrics`, `/report`, `/events.html`)
    /// on this address only, e.g. `127.0.0.1:9090` reached through an SSH tunnel or a VPN; on
    /// `--listen` they then answer 404, so the dashboard never shares the storefront's origin.
    /// The recommended deployment. Default: none (they are served on `--listen`).
    #[arg(long, env = "COLLECTOR_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// `test_event_code` added to every Conversions API request (Events Manager's test tab). Default: none.
    #[arg(long, env = "COLLECTOR_TEST_EVENT_CODE", value_parser = parse_nonempty)]
    pub test_event_code: Option<String>,

    /// App secret: adds `appsecret_proof` (HMAC-SHA256 of the access token) to each request. Default: none.
    #[arg(long, env = "COLLECTOR_APP_SECRET", hide_env_values = true, value_parser = parse_nonempty)]
    pub app_secret: Option<String>,

    /// `<PIXEL_ID>=<KEY>`: the store's server may send events of this pixel to
    /// `POST /{version}/<PIXEL_ID>/events` with this key (at least 16 characters) instead of the
    /// pixel's access token, as `Authorization: Bearer`, `access_token` in the body or in the
    /// query string. Repeatable; one key per pixel. Default: none (only the access token).
    #[arg(long = "server-key", env = "COLLECTOR_SERVER_KEY", value_delimiter = ',', value_parser = parse_server_key, hide_env_values = true)]
    pub server_keys: Vec<ServerKey>,

    /// Events whose relay waits for their other copy: a browser beacon and a server event with
    /// the same event ID are merged into one event before it is sent, for at most `--hold-secs`.
    /// Comma-separated event names; an empty string holds nothing. Default: `Purchase`.
    #[arg(long = "hold", env = "COLLECTOR_HOLD", value_delimiter = ',', default_value = "Purchase", value_parser = parse_event_name)]
    pub hold: Vec<String>,

    /// How long a held event waits for its other copy before it is relayed alone. Default 600
    /// (10 minutes): Meta itself treats a browser and a server copy that arrive within 5 minutes
    /// of each other as arriving together; payment webhooks (which trigger WooCommerce's
    /// payment_complete) normally land within seconds to a few minutes, and a longer hold delays
    /// the orders whose browser copy never comes (content blockers) for nothing; a complete pair
    /// is released at once.
    #[arg(long, env = "COLLECTOR_HOLD_SECS", default_value_t = 600, value_parser = clap::value_parser!(u32))]
    pub hold_secs: u32,

    /// Origin allowed to send beacons (`https://shop.example`). Repeatable. Default: none = all origins.
    #[arg(long = "allowed-origin", env = "COLLECTOR_ALLOWED_ORIGIN", value_delimiter = ',', value_parser = parse_origin)]
    pub allowed_origins: Vec<String>,

    /// Take the client address from `X-Forwarded-For` (its last entry) and the scheme from
    /// `X-Forwarded-Proto`. Only behind a reverse proxy you control. Default: off.
    #[arg(long, env = "COLLECTOR_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// Delete stored events (with their IP address and user agent) this many days after receipt;
    /// 0 keeps them forever.
    #[arg(long, env = "COLLECTOR_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,

    /// Seconds between retention purges (the first runs at start).
    #[arg(long, env = "COLLECTOR_PURGE_INTERVAL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub purge_interval_secs: u64,

    /// SQLite durability of an acknowledged event: `normal` (WAL written before the answer)
    /// survives kill -9 and crashes of the collector but not power loss; `full` also fsyncs the WAL
    /// at each group commit and survives power loss, at a lower throughput. Ignored for
    /// PostgreSQL, whose server's own settings (`synchronous_commit`, `fsync`) decide.
    #[arg(long, env = "COLLECTOR_SYNC", value_enum, default_value_t = SyncMode::Normal)]
    pub sync: SyncMode,

    /// Milliseconds the relay waits between polls when it has nothing to send.
    #[arg(long, env = "COLLECTOR_RELAY_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_interval_ms: u64,

    /// First retry delay after a failed relay request; doubles each attempt (with jitter).
    #[arg(long, env = "COLLECTOR_RETRY_BASE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_base_ms: u64,

    /// Longest backoff delay between retries (`Retry-After` is honoured up to one hour).
    #[arg(long, env = "COLLECTOR_RETRY_MAX_MS", default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_max_ms: u64,

    /// Timeout of one Conversions API request.
    #[arg(long, env = "COLLECTOR_RELAY_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_timeout_ms: u64,

    /// Events per Conversions API request (Meta allows at most 1000).
    #[arg(long, env = "COLLECTOR_RELAY_BATCH", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub relay_batch: u64,

    /// Milliseconds a client has to send a request head (request line and headers), from the
    /// connection's opening or from its first byte after an idle keep-alive pause.
    #[arg(long, env = "COLLECTOR_HEAD_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub head_timeout_ms: u64,

    /// Milliseconds a request with a body has from its head to its answer, the whole body
    /// included (`408` after).
    #[arg(long, env = "COLLECTOR_BODY_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,

    /// Milliseconds an idle keep-alive connection (nothing read or written) stays open.
    #[arg(long, env = "COLLECTOR_IDLE_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,

    /// Open connections at most; one beyond is accepted and closed at once. Each takes a file
    /// descriptor: the collector raises its soft descriptor limit to the hard one at start.
    #[arg(long, env = "COLLECTOR_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: usize,

    // Per-client limits (`http::limit`). A client is an address: an IPv4 address whole, an
    // IPv6 address by its /64 (one household or phone gets a whole /64), or with `--trust-proxy`
    // the forwarded address. Over a limit: `429` with `Retry-After`, the body unread.
    //
    // The beacon defaults come from what a page sends: the pixel sends a few beacons per page
    // view (Meta's own pixel 2 to 4: PageView, a ViewContent or AddToCart, a microdata beacon),
    // each under a few KB, and a shopper views a page every few seconds at most. So one shopper
    // sends about 1 beacon a second at its busiest, a few KB a second. A carrier NAT puts many
    // shoppers behind one address: 100 beacons a second is 100 shoppers of one store browsing at
    // once from one address, which only a large store in a flash sale on one mobile carrier
    // approaches; the burst of 1,000 lets them arrive all at once. A real beacon stays below
    // 10 KB (the pixel's own cap on a query string is 2 KB, a POST holds the rest), so 1 MiB a
    // second is 100 beacons of 10 KB a second; the 8 MiB burst holds 128 of the largest bodies
    // (64 KB). The flood of issue #24 (64 KB beacons, 877 a second from one address) is held to
    // 16 a second.
    /// Beacons (`/tr` GET and POST) one client may send per second, sustained. `0`: no limit.
    /// Default 100: about 100 shoppers browsing at once behind one address (a carrier NAT); one
    /// shopper sends about one beacon a second at its busiest (collector/README.md, "Limits").
    #[arg(long, env = "COLLECTOR_BEACON_RATE", default_value_t = 100)]
    pub beacon_rate: u64,

    /// Beacons one client may send at once above `--beacon-rate` (the bucket's size). Default
    /// 1000: ten seconds of the rate.
    #[arg(long, env = "COLLECTOR_BEACON_BURST", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub beacon_burst: u64,

    /// Beacon bytes (query string and body) one client may send per second, sustained. `0`: no
    /// limit. Default 1048576 (1 MiB): 100 beacons of 10 KB a second, where a real one is under
    /// a few KB.
    #[arg(long, env = "COLLECTOR_BEACON_BYTES_RATE", default_value_t = 1 << 20)]
    pub beacon_bytes_rate: u64,

    /// Beacon bytes one client may send at once above `--beacon-bytes-rate`. Default 8388608
    /// (8 MiB): 128 beacons of the largest body (64 KB).
    #[arg(long, env = "COLLECTOR_BEACON_BYTES_BURST", default_value_t = 8 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub beacon_bytes_burst: u64,

    /// Server-event requests (`POST /{version}/{pixel}/events`) one client may send per second,
    /// sustained. `0`: no limit. They come from the store's own server, with a credential, one
    /// request per event or batches of up to 1,000: default 200, a store sending every page view
    /// and order from its server one by one at 200 a second.
    #[arg(long, env = "COLLECTOR_SERVER_EVENTS_RATE", default_value_t = 200)]
    pub server_events_rate: u64,

    /// Server-event requests one client may send at once above `--server-events-rate`. Default
    /// 2000 (ten seconds of the rate: a backlog replayed after an outage of the collector).
    #[arg(long, env = "COLLECTOR_SERVER_EVENTS_BURST", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub server_events_burst: u64,

    /// Server-event bytes one client may send per second, sustained. `0`: no limit. Default
    /// 16777216 (16 MiB): eight full batches of 1,000 events (about 2 MB each) a second.
    #[arg(long, env = "COLLECTOR_SERVER_EVENTS_BYTES_RATE", default_value_t = 16 << 20)]
    pub server_events_bytes_rate: u64,

    /// Server-event bytes one client may send at once above the rate. Default 134217728
    /// (128 MiB): 32 requests of the largest body (4 MB).
    #[arg(long, env = "COLLECTOR_SERVER_EVENTS_BYTES_BURST", default_value_t = 128 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub server_events_bytes_burst: u64,

    /// Clients whose limits are remembered at most (each about 100 bytes). A client whose
    /// buckets have refilled is forgotten first (it is then the same as a new one); a flood of
    /// distinct addresses beyond this makes the collector forget the clients closest to refilled.
    /// Default 100000 (about 10 MB).
    #[arg(long, env = "COLLECTOR_LIMIT_CLIENTS", default_value_t = 100_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(16..=100_000_000))]
    pub limit_clients: usize,

    /// Open connections one client (its socket address, as above; never the forwarded one) may
    /// hold; one more is accepted and closed at once. `0`: no limit. Not applied with
    /// `--trust-proxy`, where every connection comes from the proxy (limit there: `limit_conn`).
    /// Default 512, an eighth of `--max-connections`' default: 85 browsers behind one address
    /// with all six connections a browser opens to one origin.
    #[arg(
        long,
        env = "COLLECTOR_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 512
    )]
    pub max_connections_per_client: usize,

    /// Milliseconds an idle keep-alive connection stays open while more than three quarters of
    /// `--max-connections` are open (instead of `--idle-timeout-ms`), so that idle connections
    /// make room for new clients. Default 2000: a browser reuses a connection within a page's
    /// load, and reopens one at no cost otherwise.
    #[arg(long, env = "COLLECTOR_IDLE_TIMEOUT_BUSY_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_busy_ms: u64,

    /// Largest custom data of one event, in bytes of its JSON (a beacon's `cd[...]`, a server
    /// event's `custom_data`); an event above is refused with `413`. Default 65536: a Purchase
    /// with 200 `contents` of id, quantity, price, title and category (about 150 bytes each) is
    /// 30 KB; a beacon's body is 64 KB at most anyway.
    #[arg(long, env = "COLLECTOR_MAX_CUSTOM_DATA_BYTES", default_value_t = 65_536, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_custom_data_bytes: usize,

    /// Milliseconds a shutdown (SIGTERM, Ctrl-C) waits for in-flight requests before closing
    /// their connections.
    #[arg(long, env = "COLLECTOR_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub shutdown_timeout_ms: u64,

    /// Also serve `GET /metrics` here, without the admin token (an internal address for a
    /// Prometheus scraper). On `--listen`, `/metrics` always needs the admin token. Default: none.
    #[arg(long, env = "COLLECTOR_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "COLLECTOR_LOG", default_value = "info")]
    pub log: tracing::Level,

    /// What to do instead of serving (none: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A `postgres://` URL. Its `Debug` and [`DbUrl::redacted`] show `***` for the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// What the driver connects with.
    pub config: String,
    /// The password, when the URL had none and `PGPASSWORD` gave one.
    pub password: Option<String>,
    shown: String,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl DbUrl {
    pub fn is_url(text: &str) -> bool {
        ["postgres://", "postgresql://"].iter().any(|p| {
            text.get(..p.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(p))
        })
    }

    /// `text`, a `postgres://` URL; `env_password` (`PGPASSWORD`) is used when it has none.
    /// Errors never quote the URL (it may hold the password).
    pub fn parse(text: &str, env_password: Option<String>) -> Result<DbUrl, String> {
        let shown = redact_url(text);
        let parsed: tokio_postgres::Config = text.parse().map_err(|e: tokio_postgres::Error| {
            format!(
                "{shown} is not a valid PostgreSQL URL ({})",
                redact_url(&e.to_string())
            )
        })?;
        if parsed.get_hosts().is_empty() {
            return Err(format!("{shown} names no host"));
        }
        let password = match parsed.get_password() {
            Some(_) => None,
            None => env_password.filter(|p| !p.is_empty()),
        };
        Ok(DbUrl {
            config: text.to_owned(),
            password,
            shown,
        })
    }

    /// The URL with its password (in the user part or a `password=` parameter) as `***`.
    pub fn redacted(&self) -> &str {
        &self.shown
    }
}

/// `scheme://user:secret@host/db?password=secret` → `scheme://user:***@host/db?password=***`.
fn redact_url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Why the command line was not accepted.
#[derive(Debug)]
pub enum CliError {
    /// `--help` or `--version`: print this text to stdout and exit 0.
    Info(String),
    /// A usage error: print this one line to stderr and exit 2.
    Usage(String),
}

impl Config {
    /// Parse arguments (the first one is the program name) and the `COLLECTOR_*` environment.
    pub fn parse_from<I, T>(args: I) -> Result<Config, CliError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::error::ErrorKind;
        match Config::try_parse_from(args) {
            Ok(config) => config.validate(),
            Err(e) => match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    Err(CliError::Info(e.to_string()))
                }
                _ => Err(CliError::Usage(without_secret(&e))),
            },
        }
    }

    fn validate(self) -> Result<Config, CliError> {
        self.validate_with(std::env::var("PGPASSWORD").ok())
    }

    /// [`Config::validate`] with `PGPASSWORD`'s value given.
    fn validate_with(mut self, pg_password: Option<String>) -> Result<Config, CliError> {
        if let Some(text) = self.db.to_str().filter(|t| DbUrl::is_url(t)) {
            let url = DbUrl::parse(text, pg_password)
                .map_err(|e| CliError::Usage(format!("error: --db: {e}")))?;
            self.db = PathBuf::from(url.redacted());
            self.postgres = Some(url);
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.pixels {
            if !seen.insert(p.id.as_str()) {
                return Err(CliError::Usage(format!(
                    "error: pixel {} is given twice in --pixel",
                    p.id
                )));
            }
        }
        let mut keyed = std::collections::HashSet::new();
        for k in &self.server_keys {
            if self.pixel(&k.pixel).is_none() {
                return Err(CliError::Usage(format!(
                    "error: --server-key names pixel {}, which no --pixel accepts",
                    k.pixel
                )));
            }
            if !keyed.insert(k.pixel.as_str()) {
                return Err(CliError::Usage(format!(
                    "error: pixel {} has two --server-key values (one per pixel)",
                    k.pixel
                )));
            }
        }
        self.hold.retain(|name| !name.is_empty());
        if self.graph_url.starts_with("http://") && !self.graph_allow_http {
            return Err(CliError::Usage(
                "error: --graph-url is plain http://, which would send the access token unencrypted: use https:// (or --graph-allow-http for a local stand-in)".into(),
            ));
        }
        if let Some(t) = &self.admin_token {
            if t.chars().count() < MIN_ADMIN_TOKEN {
                return Err(CliError::Usage(format!(
                    "error: --admin-token is shorter than {MIN_ADMIN_TOKEN} characters (try: openssl rand -hex 16)"
                )));
            }
            if t == DEMO_ADMIN_TOKEN && self.admin_exposed() {
                return Err(CliError::Usage(format!(
                    "error: --admin-token is the public demo token, and the admin routes are served on {}{}: set your own (try: openssl rand -hex 16), or serve them on loopback only (--admin-listen 127.0.0.1:PORT)",
                    self.admin_address(),
                    if self.admin_address().ip().is_loopback() { " behind --trust-proxy (a proxy makes them public)" } else { ", not a loopback address" },
                )));
            }
        }
        if self.admin_listen == Some(self.listen) && self.listen.port() != 0 {
            return Err(CliError::Usage(
                "error: --admin-listen is the --listen address: give it its own (e.g. 127.0.0.1:9090)".into(),
            ));
        }
        if self.retry_base_ms > self.retry_max_ms {
            return Err(CliError::Usage(
                "error: --retry-base-ms is larger than --retry-max-ms".into(),
            ));
        }
        Ok(self)
    }

    /// The address serving the admin routes: `--admin-listen`, else `--listen`.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_listen.unwrap_or(self.listen)
    }

    /// Whether another host can reach the admin routes: their listener is not a loopback address
    /// (`0.0.0.0` and `::` included), or they are on `--listen` behind `--trust-proxy`, whose
    /// proxy serves them to the world. The public demo token is refused then.
    pub fn admin_exposed(&self) -> bool {
        let at = self.admin_address();
        !at.ip().is_loopback() || (self.admin_listen.is_none() && self.trust_proxy)
    }

    /// The configuration of `pixel_id`, when the collector accepts it.
    pub fn pixel(&self, pixel_id: &str) -> Option<&PixelConfig> {
        self.pixels.iter().find(|p| p.id == pixel_id)
    }

    /// The `--server-key` of `pixel_id`, when it has one.
    pub fn server_key(&self, pixel_id: &str) -> Option<&str> {
        self.server_keys
            .iter()
            .find(|k| k.pixel == pixel_id)
            .map(|k| k.key.as_str())
    }

    /// Until when (Unix ms) an event received at `received_at_ms` waits for its other copy
    /// before it is relayed: `--hold-secs` later for a relayed event named in `--hold`, else
    /// `None`. A few string compares (the held set is a handful of names): cheap on every beacon.
    pub fn hold_until(&self, event_name: &str, relay: bool, received_at_ms: i64) -> Option<i64> {
        (relay && self.hold.iter().any(|h| h == event_name))
            .then(|| received_at_ms.saturating_add(i64::from(self.hold_secs) * 1000))
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("db", &self.db)
            .field("postgres", &self.postgres)
            .field("dist", &self.dist)
            .field("site", &self.site)
            .field("pixels", &self.pixels)
            .field("graph_url", &self.graph_url)
            .field("graph_version", &self.graph_version)
            .field("admin_token", &redacted(self.admin_token.as_ref()))
            .field("test_event_code", &self.test_event_code)
            .field("app_secret", &redacted(self.app_secret.as_ref()))
            .field("server_keys", &self.server_keys)
            .field("hold", &self.hold)
            .field("hold_secs", &self.hold_secs)
            .field("allowed_origins", &self.allowed_origins)
            .field("trust_proxy", &self.trust_proxy)
            .field("sync", &self.sync)
            .field("max_connections", &self.max_connections)
            .field("metrics_listen", &self.metrics_listen)
            .field("admin_listen", &self.admin_listen)
            .finish_non_exhaustive()
    }
}

/// The one-line usage error; for a secret flag without the value clap would quote.
fn without_secret(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(a)) => a.as_str(),
        _ => "",
    };
    let Some(flag) = SECRET_FLAGS.iter().find(|f| arg.starts_with(**f)) else {
        return first_line(&e.to_string());
    };
    // Our own parsers' messages never contain the secret; clap's framing of them does.
    let reason = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| "invalid value".into());
    format!("error: invalid value for {flag}: {reason} (see --help)")
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("error: invalid arguments");
    format!("{line} (see --help)")
}

fn parse_pixel(s: &str) -> Result<PixelConfig, String> {
    let (id, token) = match s.split_once('=') {
        Some((id, token)) => (id.trim(), Some(token.trim())),
        None => (s.trim(), None),
    };
    // `^[1-9][0-9]{0,25}$`, the pixel ID rule of SPEC §2, the same function as the pixel's.
    if !pixel_core::pixel_id::valid_pixel_id(id) {
        // A long "id" is likely a token given where the id goes: not echoed.
        let shown = if id.chars().count() <= 26 {
            format!("'{id}'")
        } else {
            format!("({} characters)", id.chars().count())
        };
        return Err(format!("malformed --pixel {shown}: expected <PIXEL_ID>[=<ACCESS_TOKEN>] with a numeric pixel id"));
    }
    match token {
        Some("") => Err(format!(
            "malformed --pixel '{id}=': the access token after '=' is empty"
        )),
        Some(t) if t.chars().any(|c| c.is_whitespace() || c.is_control()) => Err(format!(
            "malformed --pixel '{id}=...': the access token contains white space"
        )),
        t => Ok(PixelConfig {
            id: id.to_owned(),
            token: t.map(str::to_owned),
        }),
    }
}

fn parse_server_key(s: &str) -> Result<ServerKey, String> {
    let Some((pixel, key)) = s.split_once('=') else {
        return Err("malformed --server-key: expected <PIXEL_ID>=<KEY>".into());
    };
    let (pixel, key) = (pixel.trim(), key.trim());
    if !pixel_core::pixel_id::valid_pixel_id(pixel) {
        return Err(
            "malformed --server-key: expected <PIXEL_ID>=<KEY> with a numeric pixel id".into(),
        );
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "malformed --server-key '{pixel}=...': the key contains white space"
        ));
    }
    if key.chars().count() < MIN_SERVER_KEY {
        return Err(format!(
            "--server-key of pixel {pixel} is shorter than {MIN_SERVER_KEY} characters (try: openssl rand -hex 16)"
        ));
    }
    Ok(ServerKey {
        pixel: pixel.to_owned(),
        key: key.to_owned(),
    })
}

/// A `--hold` entry: an event name (empty: nothing), at most as long as a stored one.
fn parse_event_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.chars().count() > crate::event::MAX_EVENT_NAME {
        return Err(format!(
            "an event name in --hold is longer than {} characters",
            crate::event::MAX_EVENT_NAME
        ));
    }
    Ok(s.to_owned())
}

fn parse_http_url(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(s.to_owned()),
        _ => Err(format!("'{s}' is not an http(s) URL")),
    }
}

fn parse_graph_version(s: &str) -> Result<String, String> {
    let ok = s
        .strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.chars().chain(b.chars())).all(|c| c.is_ascii_digit())
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("'{s}' is not a Graph API version like v26.0"))
    }
}

fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => {
            Ok(s.to_ascii_lowercase())
        }
        _ => Err(format!("'{s}' is not an origin like https://shop.example")),
    }
}

fn parse_nonempty(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err("the value is empty".into())
    } else {
        Ok(t.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, CliError> {
        Config::parse_from(std::iter::once("collector").chain(args.iter().copied()))
    }

    #[test]
    fn pixel_with_and_without_token() {
        let c = parse(&["--pixel", "123=abc", "--pixel", "456"]).ok();
        let pixels = c.map(|c| c.pixels).unwrap_or_default();
        assert_eq!(
            pixels,
            vec![
                PixelConfig {
                    id: "123".into(),
                    token: Some("abc".into())
                },
                PixelConfig {
                    id: "456".into(),
                    token: None
                }
            ]
        );
    }

    #[test]
    fn usage_errors_are_one_line() {
        for args in [
            &["--nope"][..],
            &["--listen", "nowhere"],
            &["--pixel", "abc=t"],
            &["--pixel", "0123=t"],
            &["--pixel", "123="],
            &["--pixel", "1", "--pixel", "1=x"],
            &["--graph-version", "26"],
            &["--allowed-origin", "shop.example"],
            &["--graph-url", "http://127.0.0.1:9"],
        ] {
            match parse(args) {
                Err(CliError::Usage(line)) => assert!(!line.contains('\n'), "{line}"),
                other => unreachable!("{args:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn the_demo_token_only_on_loopback() {
        let demo = ["--admin-token", DEMO_ADMIN_TOKEN];
        let own = ["--admin-token", "a-token-of-my-own-0123"];
        let cases: [(&[&str], bool); 9] = [
            (&["--listen", "127.0.0.1:8080"], true),
            (&["--listen", "[::1]:8080"], true),
            (&["--listen", "0.0.0.0:8080"], false),
            (&["--listen", "[::]:8080"], false),
            (&["--listen", "192.0.2.7:8080"], false),
            // The admin routes on their own loopback listener: the public one may be anything.
            (
                &[
                    "--listen",
                    "0.0.0.0:8080",
                    "--admin-listen",
                    "127.0.0.1:9090",
                ],
                true,
            ),
            (
                &[
                    "--listen",
                    "127.0.0.1:8080",
                    "--admin-listen",
                    "0.0.0.0:9090",
                ],
                false,
            ),
            // A loopback --listen behind a proxy serves the admin routes to the world.
            (&["--listen", "127.0.0.1:8080", "--trust-proxy"], false),
            (
                &[
                    "--listen",
                    "127.0.0.1:8080",
                    "--trust-proxy",
                    "--admin-listen",
                    "127.0.0.1:9090",
                ],
                true,
            ),
        ];
        for (args, accepted) in cases {
            let with = |token: &[&str]| parse(&[args, token].concat());
            assert!(with(&own).is_ok(), "{args:?} with a token of its own");
            match with(&demo) {
                Ok(_) => assert!(accepted, "{args:?}: the demo token was accepted"),
                Err(CliError::Usage(line)) => {
                    assert!(!accepted, "{args:?}: {line}");
                    assert!(
                        line.contains("demo token") && !line.contains('\n'),
                        "{line}"
                    );
                }
                Err(e) => unreachable!("{e:?}"),
            }
        }
        // Shorter than the minimum: refused on any address, loopback included.
        for at in ["127.0.0.1:8080", "0.0.0.0:8080"] {
            match parse(&["--listen", at, "--admin-token", "0123456789abcde"]) {
                Err(CliError::Usage(line)) => assert!(line.contains("shorter than 16"), "{line}"),
                other => unreachable!("{other:?}"),
            }
        }
        assert!(parse(&[
            "--listen",
            "127.0.0.1:8080",
            "--admin-listen",
            "127.0.0.1:8080"
        ])
        .is_err());
    }

    #[test]
    fn plain_http_graph_url_only_with_its_flag() {
        assert!(parse(&["--graph-url", "https://graph.example"]).is_ok());
        assert!(parse(&["--graph-url", "http://127.0.0.1:9", "--graph-allow-http"]).is_ok());
        match parse(&["--graph-url", "http://127.0.0.1:9"]) {
            Err(CliError::Usage(line)) => assert!(line.contains("--graph-allow-http"), "{line}"),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn a_database_password_never_shows() {
        for (url, env) in [
            ("postgres://collector:s3cret-pw@127.0.0.1:5432/shop", None),
            (
                "postgresql://collector@db.internal/shop?password=s3cret-pw&sslmode=require",
                None,
            ),
            ("postgres://collector@127.0.0.1/shop", Some("s3cret-pw")),
        ] {
            let c = match Config::try_parse_from(["collector", "--db", url]) {
                Ok(c) => c.validate_with(env.map(str::to_owned)),
                Err(e) => unreachable!("{e}"),
            };
            let c = c.unwrap_or_else(|e| unreachable!("{url}: {e:?}"));
            let shown = format!("{c:?} {}", c.db.display());
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("collector"), "{shown}");
            let pg = c.postgres.unwrap_or_else(|| unreachable!("{url} is a URL"));
            let has =
                pg.config.contains("s3cret-pw") || pg.password.as_deref() == Some("s3cret-pw");
            assert!(has, "the driver still gets the password");
        }
        assert_eq!(
            redact_url("postgres://u:p@h:1/d?sslmode=require&password=p"),
            "postgres://u:***@h:1/d?sslmode=require&password=***"
        );
        // A malformed URL: a usage error that does not quote the password either.
        match parse(&["--db", "postgres://u:s3cret-pw@h:notaport/d"]) {
            Err(CliError::Usage(line)) => {
                assert!(!line.contains("s3cret") && line.contains("--db"), "{line}")
            }
            other => unreachable!("{other:?}"),
        }
        let sqlite = parse(&["--db", "/tmp/x.db"]).ok().and_then(|c| c.postgres);
        assert!(sqlite.is_none());
    }

    #[test]
    fn pixel_id_rule() {
        for ok in ["1", "12345678901234567890123456"] {
            assert!(parse(&["--pixel", ok]).is_ok(), "{ok}");
        }
        for bad in ["123456789012345678901234567", "0", "", "12a"] {
            assert!(
                matches!(parse(&["--pixel", bad]), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }
    #[test]
    fn server_keys_are_checked_and_never_shown() {
        let key = "k3y-for-the-store-server";
        let c = parse(&["--pixel", "123=tok", "--server-key", &format!("123={key}")])
            .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(c.server_key("123"), Some(key));
        assert_eq!(c.server_key("456"), None);
        let shown = format!("{c:?}");
        assert!(!shown.contains(key) && shown.contains("123"), "{shown}");
        for (args, why) in [
            (
                vec![
                    "--pixel",
                    "123",
                    "--server-key",
                    "456=k3y-for-the-store-server",
                ],
                "no --pixel",
            ),
            (
                vec!["--pixel", "123", "--server-key", "123=short"],
                "shorter",
            ),
            (
                vec!["--pixel", "123", "--server-key", "k3y-for-the-store-server"],
                "malformed",
            ),
            (
                vec![
                    "--pixel",
                    "123",
                    "--server-key",
                    "123=k3y-for-the-store-server,123=another-key-of-the-store",
                ],
                "one per pixel",
            ),
        ] {
            match parse(&args) {
                Err(CliError::Usage(line)) => {
                    assert!(line.contains(why), "{line}");
                    assert!(
                        !line.contains("k3y-for") && !line.contains("=short"),
                        "{line}"
                    );
                }
                other => unreachable!("{args:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn hold_defaults_to_purchase_for_ten_minutes_and_can_be_emptied() {
        let c = parse(&[]).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(c.hold, vec!["Purchase".to_owned()]);
        assert_eq!(c.hold_secs, 600);
        assert_eq!(c.hold_until("Purchase", true, 1_000), Some(601_000));
        assert_eq!(
            c.hold_until("Purchase", false, 1_000),
            None,
            "not relayed: no hold"
        );
        assert_eq!(c.hold_until("PageView", true, 1_000), None);
        let none = parse(&["--hold", ""]).unwrap_or_else(|e| unreachable!("{e:?}"));
        assert!(none.hold.is_empty());
        assert_eq!(none.hold_until("Purchase", true, 1_000), None);
        let two = parse(&["--hold", "Purchase,Lead", "--hold-secs", "30"])
            .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(two.hold_until("Lead", true, 0), Some(30_000));
    }
}
