//! `seed`: fill a collector database with realistic synthetic events (see [`collector::seed`]),
//! with a progress bar, so the demo and the dashboard have something to show.
//!
//! `cargo run --release -p collector --bin seed -- --db collector.db --events 20000`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use collector::config::{CliError, Config};
use collector::reports::{format_day, parse_date};

#[derive(Parser, Debug)]
#[command(
    name = "seed",
    about = "Fill a collector database with realistic synthetic events"
)]
struct Args {
    /// The SQLite file (created when missing), or a `postgres://` URL as the collector's `--db`
    /// takes it (the password best from `PGPASSWORD`).
    #[arg(long)]
    db: PathBuf,
    #[arg(long, default_value = "1234567890")]
    pixel: String,
    /// How many events to store (duplicates come on top and are dropped by the store).
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Spread over this many UTC days.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// The last day (YYYY-MM-DD, UTC); default today.
    #[arg(long)]
    end: Option<String>,
    /// Random seed: the same seed and arguments give the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Store the events as not relayed (a pixel without access token) instead of relayed.
    #[arg(long)]
    no_relay: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let end_day = match &args.end {
        Some(d) => parse_date(d).ok_or("--end must be a date as YYYY-MM-DD")?,
        None => collector::ports::Clock::now_ms(&collector::ports::SystemClock) / 86_400_000,
    };
    // The collector's own parsing of --db: the same URL rules, the password never shown.
    let config = match Config::parse_from([
        std::ffi::OsStr::new("collector"),
        "--db".as_ref(),
        args.db.as_os_str(),
    ]) {
        Ok(c) => c,
        Err(CliError::Usage(line) | CliError::Info(line)) => return Err(line),
    };
    let store = collector::store::open(&config)
        .map_err(|e| format!("cannot open {}: {e}", config.db.display()))?;
    let bar = indicatif::ProgressBar::new(args.events);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    let opts = collector::seed::Options {
        pixel: args.pixel.clone(),
        events: args.events,
        days: args.days,
        end_day,
        seed: args.seed,
        relay: !args.no_relay,
    };
    let summary = collector::seed::seed(store.as_ref(), &opts, &mut |n| bar.set_position(n))?;
    bar.finish();
    eprintln!(
        "seed: {} events stored for pixel {} in {} ({} duplicates dropped), {} visitors, days {} to {}",
        summary.stored,
        args.pixel,
        config.db.display(),
        summary.duplicates,
        summary.visitors,
        format_day(end_day - args.days + 1),
        format_day(end_day),
    );
    Ok(())
}
