//! The systemd unit in `collector/deploy/`: `systemd-analyze verify` accepts it (when the machine
//! has systemd-analyze; skipped with a printed reason otherwise), its `ExecStart` flags are ones
//! the collector accepts, and it gives a shutdown the time the collector may take.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

const UNIT: &str = include_str!("../deploy/collector.service");

/// The value of `key=` in the unit (the last one, as systemd reads it).
fn value(key: &str) -> Option<String> {
    UNIT.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
}

/// `ExecStart`, its `\` continuations joined, split into words.
fn exec_start() -> Vec<String> {
    let mut joined = String::new();
    let mut lines = UNIT.lines().skip_while(|l| !l.starts_with("ExecStart="));
    for l in lines.by_ref() {
        let l = l.strip_prefix("ExecStart=").unwrap_or(l).trim();
        match l.strip_suffix('\\') {
            Some(part) => joined.push_str(part),
            None => {
                joined.push_str(l);
                break;
            }
        }
        joined.push(' ');
    }
    joined.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_unit_sets_limits_restarts_sandboxing_and_secrets_from_a_file() {
    for (key, want) in [
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "2"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "collector"),
        ("EnvironmentFile", "/etc/collector/collector.env"),
    ] {
        assert_eq!(value(key).as_deref(), Some(want), "{key}");
    }
    let nofile: u64 = value("LimitNOFILE").unwrap().parse().unwrap();
    assert!(
        nofile >= 4096 + 64,
        "LimitNOFILE {nofile} is below --max-connections"
    );
    // SIGKILL must not come before the collector's own deadlines: shutdown + relay + 2 s.
    let stop: u64 = value("TimeoutStopSec").unwrap().parse().unwrap();
    assert!(stop >= 10 + 30 + 2, "TimeoutStopSec {stop}");
    // No secret on the command line.
    let argv = exec_start();
    assert!(!argv
        .iter()
        .any(|a| a.contains("token") || a.contains("secret") || a == "--pixel"));
    // The flags are the collector's (the secrets the env file gives are stood in for).
    let mut args: Vec<String> = vec!["collector".into()];
    args.extend(argv.iter().skip(1).cloned());
    args.extend(["--admin-token".into(), "0123456789abcdef0123".into()]);
    let parsed = collector::config::Config::parse_from(args);
    assert!(parsed.is_ok(), "{argv:?}: {:?}", parsed.err());
    let config = parsed.unwrap_or_else(|_| unreachable!());
    assert!(config.trust_proxy && config.listen.ip().is_loopback());
    assert!(config.metrics_listen.is_some_and(|a| a.ip().is_loopback()));
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        println!("skipped: systemd-analyze is not installed on this machine");
        return;
    };
    if !version.status.success() {
        println!("skipped: systemd-analyze --version failed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let unit = UNIT.replace("/usr/local/bin/collector", env!("CARGO_BIN_EXE_collector"));
    let path = dir.path().join("collector.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("collector.service"))
        .collect();
    println!(
        "systemd-analyze verify: exit {:?}, {} line(s) about the unit",
        out.status.code(),
        ours.len()
    );
    assert!(out.status.success(), "{stderr}");
    assert!(ours.is_empty(), "{stderr}");
}
