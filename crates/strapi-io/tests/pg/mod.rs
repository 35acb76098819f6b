//! A throwaway PostgreSQL cluster for tests: the installed server binaries (Debian's
//! `/usr/lib/postgresql/<version>/bin`, or `initdb`/`pg_ctl` on `PATH`), a data directory in
//! a temp dir, listening on 127.0.0.1 and a random free port (plus a Unix socket in the temp
//! dir for the superuser), stopped and removed on drop — also when a test panics. As root,
//! the server runs as the `postgres` system user (PostgreSQL refuses root).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running (or stopped) test cluster.
pub(crate) struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Run the server binaries through `runuser -u postgres --` (we are root).
    as_postgres: bool,
    running: bool,
}

/// The directory holding `initdb`, `pg_ctl`, `psql` of the newest installed PostgreSQL.
fn find_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return Ok(dir);
        }
    }
    Err(
        "PostgreSQL is not installed: no initdb/pg_ctl in /usr/lib/postgresql/*/bin nor on \
         PATH (scripts/test installs it: apt-get install postgresql)"
            .to_string(),
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Runs `cmd`, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

impl PgCluster {
    /// Creates and starts a cluster whose superuser `postgres` connects without a password
    /// over the Unix socket; TCP logins need a password (SCRAM).
    pub(crate) fn start() -> PgCluster {
        static N: AtomicUsize = AtomicUsize::new(0);
        let bin = find_bin().unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!(
            "strapi-io-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let as_postgres = is_root();
        let mut cluster = PgCluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            running: false,
        };
        if as_postgres {
            run(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&cluster.dir),
                "chown the cluster directory to postgres",
            );
        }
        let data = cluster.data_dir();
        run(
            cluster
                .server_cmd("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"]),
            "initdb",
        );
        cluster.start_again();
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server binary, as the `postgres` user when we are root, run from the cluster dir.
    fn server_cmd(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    /// The TCP port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://user:password@127.0.0.1:port/database`.
    pub(crate) fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// (Re)starts the server on the same port; returns once it accepts connections.
    pub(crate) fn start_again(&mut self) {
        let log = self.dir.join("server.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        run(
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
        self.running = true;
    }

    /// Stops the server (fast: open sessions are terminated).
    pub(crate) fn stop(&mut self) {
        run(
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-t", "60", "-m", "fast", "stop"]),
            "pg_ctl stop",
        );
        self.running = false;
    }

    /// Runs `sql` as the superuser in `database` (psql, stopping at the first error).
    pub(crate) fn psql(&self, database: &str, sql: &str) -> String {
        let mut child = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres"])
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-d", database, "-At", "-f", "-"])
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        let mut stdin = child.stdin.take().expect("psql stdin");
        let text = sql.to_string();
        let feeder = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
        let out = child.wait_with_output().expect("psql output");
        feeder
            .join()
            .expect("psql feeder")
            .expect("write psql input");
        assert!(
            out.status.success(),
            "psql failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Loads a `pg_dump` file into `database`, without its `\restrict`/`\unrestrict` lines
    /// (pg_dump ≥ 15.14 writes them; older psql rejects them).
    pub(crate) fn load_dump(&self, database: &str, dump: &Path) {
        let text =
            std::fs::read_to_string(dump).unwrap_or_else(|e| panic!("{}: {e}", dump.display()));
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .flat_map(|l| [l, "\n"])
            .collect();
        self.psql(database, &text);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-t", "30", "-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
