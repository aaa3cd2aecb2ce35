//! The embedded PostgreSQL cluster: with no `DATABASE_URL`, Tidemark keeps its own cluster
//! (TimescaleDB preloaded) under the data directory, reachable only through a Unix socket in a
//! directory of its own. Started as root, the cluster runs as the `postgres` user.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{Error, Result};

/// Where the PostgreSQL 15 binaries live on Debian unless `TIDEMARK_PG_BIN` says otherwise.
pub const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const SOCKET_PATH_MAX: usize = 100;

/// How to run the embedded cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub data_dir: PathBuf,
    pub bin_dir: PathBuf,
    pub port: u16,
    /// OS user to run PostgreSQL as when Tidemark runs as root.
    pub os_user: String,
    /// Extra `-c name=value` server settings.
    pub settings: Vec<(String, String)>,
}

impl ClusterOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ClusterOptions {
            data_dir: data_dir.into(),
            bin_dir: std::env::var_os("TIDEMARK_PG_BIN").map_or_else(|| DEFAULT_PG_BIN.into(), PathBuf::from),
            port: 5432,
            os_user: "postgres".into(),
            settings: Vec::new(),
        }
    }
}

/// A running embedded cluster. [`EmbeddedCluster::stop`] stops it if this handle started it.
#[derive(Debug)]
pub struct EmbeddedCluster {
    opts: ClusterOptions,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    started_here: bool,
}

impl EmbeddedCluster {
    /// Initializes the cluster on first use, then starts it, or adopts it if it is already
    /// running (a previous process was killed).
    pub fn start(opts: ClusterOptions) -> Result<Self> {
        let cluster = Self::locate(opts)?;
        cluster.prepare_dirs()?;
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        cluster.start_server()
    }

    /// Waits up to `timeout` for a cluster that another process (a running server) starts,
    /// and attaches to it without taking ownership.
    pub fn attach(opts: ClusterOptions, timeout: std::time::Duration) -> Result<Self> {
        let cluster = Self::locate(opts)?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let socket = cluster.socket_dir.join(format!(".s.PGSQL.{}", cluster.opts.port));
            if socket.exists() && cluster.pg_ctl(&["status"]).is_ok() {
                return Ok(cluster);
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Embedded(format!(
                    "the server using {} did not bring its PostgreSQL up within {timeout:?}",
                    cluster.opts.data_dir.display()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Resolves paths and the OS user, without touching the cluster.
    fn locate(opts: ClusterOptions) -> Result<Self> {
        let postgres = opts.bin_dir.join("postgres");
        if !postgres.exists() {
            return Err(Error::Embedded(format!(
                "PostgreSQL binaries not found at {} (set TIDEMARK_PG_BIN, or run scripts/install-deps.sh)",
                opts.bin_dir.display()
            )));
        }
        fs::create_dir_all(&opts.data_dir).map_err(|e| io_error("create", &opts.data_dir, e))?;
        let data_dir = opts
            .data_dir
            .canonicalize()
            .map_err(|e| io_error("resolve", &opts.data_dir, e))?;
        let run_as = if is_root() {
            Some(lookup_user(&opts.os_user)?)
        } else {
            None
        };
        let pgdata = data_dir.join("pg");
        let socket_dir = data_dir.join("run");
        if socket_dir.as_os_str().len() + 20 > SOCKET_PATH_MAX {
            return Err(Error::Embedded(format!(
                "data directory path {} is too long for a Unix socket; choose a shorter TIDEMARK_DATA_DIR",
                data_dir.display()
            )));
        }
        // Every path from here on is absolute: the PostgreSQL tools run inside `pgdata`.
        let opts = ClusterOptions { data_dir, ..opts };
        Ok(EmbeddedCluster {
            opts,
            pgdata,
            socket_dir,
            run_as,
            started_here: false,
        })
    }

    /// Connection settings for a database in this cluster.
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(self.opts.port)
            .user("postgres")
            .dbname(dbname)
            .application_name("tidemark");
        config
    }

    /// The same, as a libpq connection string (for `psql` and child processes).
    pub fn connection_string(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={dbname}",
            self.socket_dir.display(),
            self.opts.port
        )
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Stops the server with a fast shutdown, if this handle started or adopted it as owner.
    pub fn stop(self) -> Result<()> {
        if !self.started_here {
            return Ok(());
        }
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]).map(drop)
    }

    /// Marks the cluster as owned, so [`EmbeddedCluster::stop`] stops it even if it was adopted.
    pub fn take_ownership(&mut self) {
        self.started_here = true;
    }

    fn prepare_dirs(&self) -> Result<()> {
        for dir in [&self.pgdata, &self.socket_dir] {
            fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| io_error("chmod", dir, e))?;
            if let Some((uid, gid)) = self.run_as {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| io_error("chown", dir, e))?;
            }
        }
        if let Some((uid, _)) = self.run_as {
            // The server user must be able to reach its directory through every parent.
            let probe = Command::new("test").arg("-w").arg(&self.pgdata).uid(uid).status();
            if !matches!(probe, Ok(s) if s.success()) {
                return Err(Error::Embedded(format!(
                    "user {} cannot reach {}: a parent directory is not searchable by it; choose a TIDEMARK_DATA_DIR outside private home directories",
                    self.opts.os_user,
                    self.pgdata.display()
                )));
            }
        }
        Ok(())
    }

    fn initdb(&self) -> Result<()> {
        tracing::info!(pgdata = %self.pgdata.display(), "initializing embedded PostgreSQL cluster");
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        self.run(
            "initdb",
            &[
                "-D",
                &pgdata,
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=reject",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )
        .map(drop)
    }

    fn start_server(mut self) -> Result<Self> {
        if self.pg_ctl(&["status"]).is_ok() {
            tracing::info!(pgdata = %self.pgdata.display(), "adopting running embedded PostgreSQL");
            return Ok(self);
        }
        let mut options = format!(
            "-c listen_addresses='' -k {} -p {} -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off",
            self.socket_dir.display(),
            self.opts.port
        );
        for (name, value) in &self.opts.settings {
            options.push_str(&format!(" -c {name}={value}"));
        }
        let log = self.opts.data_dir.join("postgres.log");
        let log = log.to_string_lossy().into_owned();
        if let Some((uid, gid)) = self.run_as {
            if !Path::new(&log).exists() {
                fs::write(&log, b"").map_err(|e| io_error("create", Path::new(&log), e))?;
            }
            std::os::unix::fs::chown(&log, Some(uid), Some(gid)).map_err(|e| io_error("chown", Path::new(&log), e))?;
        }
        tracing::info!(socket_dir = %self.socket_dir.display(), port = self.opts.port, "starting embedded PostgreSQL");
        self.pg_ctl(&["start", "-w", "-t", "120", "-l", &log, "-o", &options])?;
        self.started_here = true;
        Ok(self)
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<Output> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let mut full = vec!["-D", pgdata.as_str()];
        full.extend_from_slice(args);
        self.run("pg_ctl", &full)
    }

    /// Runs a PostgreSQL tool as the cluster's OS user, in its own process group so that a
    /// Ctrl-C at the terminal reaches Tidemark (which shuts down in order) and not the server.
    fn run(&self, tool: &str, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new(self.opts.bin_dir.join(tool));
        cmd.args(args)
            .current_dir(&self.pgdata)
            .process_group(0)
            .env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid).env("HOME", &self.pgdata);
        }
        let out = cmd
            .output()
            .map_err(|e| Error::Embedded(format!("cannot run {tool}: {e}")))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(Error::Embedded(format!(
                "{tool} {} failed ({}): {}{}",
                args.first().copied().unwrap_or_default(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            )))
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Finds the uid and gid of `name` in /etc/passwd.
fn lookup_user(name: &str) -> Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| io_error("read", Path::new("/etc/passwd"), e))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| {
            Error::Embedded(format!(
                "PostgreSQL refuses to run as root and there is no '{name}' user to run it as (install postgresql-15, or set DATABASE_URL)"
            ))
        })
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Embedded(format!("cannot {what} {}: {e}", path.display()))
}
