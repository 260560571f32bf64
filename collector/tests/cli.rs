//! The command line: usage errors are one line on stderr and exit code 2; flags also come from
//! `COLLECTOR_<FLAG>` environment variables.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_collector"));
    if !args.contains(&"--db") && !env.iter().any(|(k, _)| *k == "COLLECTOR_DB") {
        cmd.args(["--db", db.to_str().unwrap()]);
    }
    let out = cmd.args(args).envs(env.iter().copied()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("c.db");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--frobnicate"], "unexpected argument"),
        (vec!["--listen", "not-an-address"], "invalid value"),
        (vec!["--listen", "127.0.0.1:99999"], "invalid value"),
        (vec!["--pixel", "abc=token"], "malformed --pixel"),
        (vec!["--pixel", "123="], "access token after '=' is empty"),
        (vec!["--pixel", "123=a", "--pixel", "123"], "given twice"),
        (vec!["--graph-url", "ftp://x"], "not an http(s) URL"),
        (vec!["--relay-batch", "1001"], "invalid value"),
        (
            vec!["--db", under_file.to_str().unwrap()],
            "cannot open database",
        ),
        (vec!["--site", "/definitely/not/here"], "is not a directory"),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = run(&args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one line wanted, got {stderr:?}"
        );
        assert!(stderr.starts_with("collector: "), "{stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr:?} lacks {needle:?}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
}

#[test]
fn an_address_in_use_exits_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, stderr) = run(&["--listen", &addr, "--pixel", "1"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("collector: error: cannot listen on")),
        "{stderr}"
    );
}

#[test]
fn flags_come_from_the_environment_too() {
    let (code, _, stderr) = run(&[], &[("COLLECTOR_LISTEN", "nowhere")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("nowhere"), "{stderr}");
    let (code, _, stderr) = run(&[], &[("COLLECTOR_PIXEL", "1=a,x=b")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("malformed --pixel 'x'"), "{stderr}");
}

#[test]
fn help_lists_every_flag_and_its_environment_variable() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--db",
        "--dist",
        "--site",
        "--pixel",
        "--graph-url",
        "--graph-version",
        "--admin-token",
        "--test-event-code",
        "--app-secret",
        "--allowed-origin",
        "--trust-proxy",
        "--retention-days",
        "--sync",
        "--relay-interval-ms",
        "--retry-base-ms",
        "--relay-timeout-ms",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from --help");
    }
    assert!(stdout.contains("COLLECTOR_ADMIN_TOKEN"));
    assert!(stdout.contains("[default: 127.0.0.1:8080]"));
}
