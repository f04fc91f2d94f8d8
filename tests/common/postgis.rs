//! A PostgreSQL + PostGIS server for one test: Debian's binaries, a fresh cluster in a temp
//! folder, listening on 127.0.0.1 at a free port only, stopped (and its files removed) when
//! dropped. As root the server runs as the `postgres` user (PostgreSQL refuses root).

use std::path::PathBuf;
use std::process::Command;

pub struct PgServer {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

impl PgServer {
    /// Start a server, or None when PostgreSQL with PostGIS is not installed (then the test is
    /// skipped, unless REQUIRE_POSTGIS=1 as in CI).
    pub fn start() -> Option<PgServer> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
            let mut v: Vec<PathBuf> = d
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect();
            v.sort();
            v.into_iter().rev().find(|b| b.join("initdb").is_file())
        });
        let postgis = std::fs::read_dir("/usr/share/postgresql")
            .ok()
            .is_some_and(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.path().join("extension/postgis.control").is_file())
            });
        let Some(bin) = bin.filter(|_| postgis) else {
            assert!(
                std::env::var_os("REQUIRE_POSTGIS").is_none(),
                "REQUIRE_POSTGIS=1 but no PostgreSQL with PostGIS"
            );
            eprintln!("skipped: no PostgreSQL with PostGIS");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let as_postgres = is_root();
        std::fs::create_dir(&data).unwrap();
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let ok = Command::new("chown")
                .args(["postgres:postgres", data.to_str().unwrap()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the data folder");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = PgServer {
            _dir: dir,
            data,
            bin,
            port,
            as_postgres,
        };
        s.run(
            "initdb",
            &[
                "-D",
                s.data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            s.data.display()
        );
        let log = s.data.join("server.log");
        s.run(
            "pg_ctl",
            &[
                "-D",
                s.data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        Some(s)
    }

    /// A command running one of the server's tools (as `postgres` when root).
    fn tool(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.tool(tool).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Create an empty database.
    pub fn database(&self, name: &str) {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    }

    /// The URL of a database.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The GDAL connection string of a database.
    pub fn gdal(&self, name: &str) -> String {
        format!(
            "PG:host=127.0.0.1 port={} user=postgres dbname={name}",
            self.port
        )
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ = self
            .tool("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
