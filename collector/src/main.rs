//! `collector`: parse flags, open the store, bind, run. Usage errors, an unusable database or
//! address: one line on stderr and exit code 2.

use std::process::ExitCode;

use collector::config::{CliError, Config};
use collector::AppState;

fn fail(line: &str) -> ExitCode {
    eprintln!("collector: error: {line}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let config = match Config::parse_from(std::env::args_os()) {
        Ok(c) => c,
        Err(CliError::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(CliError::Usage(line)) => {
            eprintln!("collector: {line}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(config.log)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    if let Some(site) = &config.site {
        if !site.is_dir() {
            return fail(&format!("--site {} is not a directory", site.display()));
        }
    }
    if config.command == Some(collector::config::Command::Rebuild) {
        return rebuild(&config);
    }
    // `config.db` shows a PostgreSQL URL with its password replaced by `***`.
    let store = match collector::store::open(&config) {
        Ok(s) => s,
        Err(e) => {
            return fail(&format!(
                "cannot open database {}: {e}",
                config.db.display()
            ))
        }
    };
    if !config.dist.is_dir() {
        tracing::warn!(dist = %config.dist.display(), "--dist directory not found: /fbevents.js will answer 404 until it exists");
    }
    // Each connection is a descriptor: lift the soft limit (often 1,024) to the hard one.
    let descriptors = collector::server::raise_descriptor_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => return fail(&format!("cannot listen on {}: {e}", config.listen)),
        };
        let metrics = match config.metrics_listen {
            Some(at) => match tokio::net::TcpListener::bind(at).await {
                Ok(l) => Some(l),
                Err(e) => return fail(&format!("cannot listen on {at} (--metrics-listen): {e}")),
            },
            None => None,
        };
        let admin = match config.admin_listen {
            Some(at) => match tokio::net::TcpListener::bind(at).await {
                Ok(l) => Some(l),
                Err(e) => return fail(&format!("cannot listen on {at} (--admin-listen): {e}")),
            },
            None => None,
        };
        if let Some(l) = &admin {
            let at = l.local_addr().map_or_else(|_| String::from("?"), |a| a.to_string());
            tracing::info!(admin = %at, "serving the dashboard, /api/*, /metrics and /events.html on the --admin-listen address only (404 on --listen)");
        }
        if let Some(l) = &metrics {
            let at = l.local_addr().map_or_else(|_| String::from("?"), |a| a.to_string());
            tracing::info!(metrics = %at, "serving /metrics without a token on the --metrics-listen address");
        }
        // Room for the connections plus the database, the relay's sockets and a margin.
        let wanted = config.max_connections as u64 + 64;
        match descriptors {
            Some(n) if n < wanted => tracing::warn!(
                limit = n,
                max_connections = config.max_connections,
                "the open-file limit is below --max-connections + 64: accepts will fail before the connection limit; raise LimitNOFILE (systemd) or ulimit -n, or lower --max-connections"
            ),
            Some(n) => tracing::debug!(limit = n, "open-file limit"),
            None => {}
        }
        let addr = listener.local_addr().map_or_else(|_| config.listen.to_string(), |a| a.to_string());
        let pixels = config.pixels.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(",");
        if config.pixels.is_empty() {
            tracing::warn!("no --pixel configured: every beacon will be refused with 403");
        }
        if config.admin_token.is_none() {
            tracing::info!("no --admin-token: /api/*, /metrics and the dashboard's data answer 401");
        }
        tracing::info!(listen = %addr, db = %config.db.display(), pixels = %pixels, "collector listening");
        let state = match AppState::new(config, store) {
            Ok(s) => s,
            Err(e) => return fail(&format!("cannot start the writer thread: {e}")),
        };
        match collector::server::run(listener, metrics, admin, state).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("collector: error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `collector rebuild`: every write-time aggregate (rollups, per-person state) recomputed from
/// the events, progress on stderr.
fn rebuild(config: &Config) -> ExitCode {
    let started = std::time::Instant::now();
    let mut last: Option<std::time::Instant> = None;
    let mut progress = |done: i64, total: i64| {
        if last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1)) || done >= total {
            eprintln!("rebuild: events up to id {done} of {total}");
            last = Some(std::time::Instant::now());
        }
    };
    match collector::store::rebuild(config, &mut progress) {
        Ok(done) => {
            match done.rollups {
                Some(n) => eprintln!("rebuild: rollups: {n} events counted"),
                None => {
                    eprintln!("rebuild: rollups: none on PostgreSQL (its reports read the events)")
                }
            }
            eprintln!(
                "rebuild: per-person state: {} events read; done in {:.1} s",
                done.people,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("rebuild of {}: {e}", config.db.display())),
    }
}
