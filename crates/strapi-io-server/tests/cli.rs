//! The `strapi-io` binary as a user runs it: commands, exit codes, start-up errors, SIGTERM.
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_strapi-io");

/// Numbers the data directories of the servers a test run starts.
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn blog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog")
}

/// A fresh temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strapi-io-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Starts `serve` on a random port and returns the child and its address.
fn serve(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("STRAPI_IO_PORT", "0")
        .env(
            "STRAPI_IO_DATA_DIR",
            temp_dir(&format!("data-{}", NEXT.fetch_add(1, Ordering::Relaxed))),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(rest) = line.strip_prefix("strapi-io listening on http://") {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[test]
fn hash_token_matches_strapi() {
    let out = Command::new(BIN)
        .args([
            "hash-token",
            "fixture-token-dashboard",
            "--salt",
            "fixture-api-token-salt",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "32cdc634a95397e867ab9be062e71e8b9482bdabf6284db174002d847be4480aefb8f711a40ccb65ce8b0a9421ff89ef74f199345a0cd119b4c08f5ec8617164"
    );
}

#[test]
fn check_prints_masked_config_and_rejects_wrong_types() {
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(blog().join("strapi-io.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("\"pingTimeout\": 20000"));
    assert!(
        !printed.contains("demo-jwt-secret"),
        "secrets must be masked"
    );

    let dir = temp_dir("badtype");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[settings.connection]\npingTimeout = \"soon\"\n").unwrap();
    let err = check_refuses(&file);
    assert!(
        err.contains("settings.connection.pingTimeout: ") && err.contains("expected a number"),
        "{err}"
    );
}

/// Runs `strapi-io check --config file`, expects exit code 2 and returns its stderr.
fn check_refuses(file: &Path) -> String {
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn check_names_the_populate_problems_of_a_config_file() {
    let dir = temp_dir("populate");
    let file = dir.join("strapi-io.toml");
    let text = format!(
        "contentTypes = [{{ uid = \"api::article.article\", populate = [\"nope\"] }}]\n\
         [strapi]\nprojectDir = {:?}\nurl = \"ftp://x\"\n",
        blog().display().to_string()
    );
    std::fs::write(&file, text).unwrap();
    let err = check_refuses(&file);
    let problems: Vec<&str> = err
        .lines()
        .skip_while(|l| *l != "invalid config:")
        .skip(1)
        .collect();
    assert_eq!(problems.len(), 2, "{err}");
    assert!(problems[0].starts_with("strapi.url: `ftp://x`"), "{err}");
    assert!(
        problems[1].starts_with("contentTypes[0].populate: `nope` is not an attribute"),
        "{err}"
    );
    // The section's defaults.
    let out = Command::new(BIN).arg("check").output().unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["strapi"]["populateTimeoutMs"], 3_000, "{printed}");
    assert_eq!(printed["strapi"]["populateConcurrency"], 16, "{printed}");
}

#[test]
fn a_malformed_schema_stops_the_start_naming_the_file() {
    let dir = temp_dir("badschema");
    copy_tree(&blog(), &dir);
    let schema = dir.join("src/api/comment/content-types/comment/schema.json");
    std::fs::write(&schema, "{ \"attributes\": { \"text\": { \"type\": 7 } } }").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(dir.join("strapi-io.toml"))
        .env("STRAPI_IO_PORT", "0")
        .env("STRAPI_IO_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("comment/schema.json"), "{err}");
    assert!(err.contains("attributes.text.type"), "{err}");
}

#[test]
fn serve_answers_health_and_exits_cleanly_on_sigterm() {
    let (mut child, addr) = serve(&[]);
    let health = get(&addr, "/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait_exit(&mut child, Duration::from_secs(8)), Some(0));
}

fn get_with_origin(addr: &str, path: &str, origin: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.to_ascii_lowercase()
}

#[test]
fn cors_allows_only_the_configured_origins() {
    let dir = temp_dir("cors");
    copy_tree(&blog(), &dir);
    let config = dir.join("strapi-io.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("origins = [\"*\"]", "origins = [\"http://app.example\"]");
    std::fs::write(&config, text).unwrap();
    let (mut child, addr) = serve(&["--config", config.to_str().unwrap()]);
    let path = "/socket.io/?EIO=4&transport=polling";
    let allowed = get_with_origin(&addr, path, "http://app.example");
    assert!(
        allowed.contains("access-control-allow-origin: http://app.example"),
        "{allowed}"
    );
    let other = get_with_origin(&addr, path, "http://evil.example");
    assert!(!other.contains("access-control-allow-origin"), "{other}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_corrupt_settings_database_stops_the_start() {
    let dir = temp_dir("corruptdb");
    std::fs::write(dir.join("strapi-io.db"), vec![7u8; 8192]).unwrap();
    let out = Command::new(BIN)
        .arg("serve")
        .env("STRAPI_IO_PORT", "0")
        .env("STRAPI_IO_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("settings database") && err.contains("strapi-io.db"),
        "{err}"
    );
}

#[test]
fn check_without_a_config_checks_what_serve_would_run() {
    let out = Command::new(BIN).arg("check").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("\"pingTimeout\""), "{printed}");
    assert!(!printed.contains("demo-jwt-secret"), "secrets masked");
    // Next to Strapi without a file, a missing secret is named.
    let out = Command::new(BIN)
        .arg("check")
        .env("STRAPI_IO_DIRECTORY", "strapi")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("directory.databaseUrl (STRAPI_IO_DATABASE_URL)"),
        "{err}"
    );
}

#[test]
fn a_supervised_gateway_stops_when_its_parent_closes_stdin() {
    let spawn = |stop_on_eof: bool| {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("STRAPI_IO_PORT", "0")
            .env(
                "STRAPI_IO_DATA_DIR",
                temp_dir(&format!("data-{}", NEXT.fetch_add(1, Ordering::Relaxed))),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if stop_on_eof {
            cmd.env("STRAPI_IO_STOP_ON_STDIN_EOF", "1");
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("serve exited early").unwrap();
            if line.starts_with("strapi-io listening on") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        child
    };
    let mut supervised = spawn(true);
    let mut plain = spawn(false);
    // Input is ignored; its end stops the supervised one (cleanly), not the other.
    for child in [&mut supervised, &mut plain] {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"anything\n").unwrap();
        drop(stdin);
    }
    assert_eq!(wait_exit(&mut supervised, Duration::from_secs(10)), Some(0));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        plain.try_wait().unwrap().is_none(),
        "without the variable, stdin does not matter"
    );
    let _ = plain.kill();
    let _ = plain.wait();
}
