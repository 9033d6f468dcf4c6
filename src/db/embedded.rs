//! The private PostgreSQL cluster Kasa runs when no `DATABASE_URL` is given.
//!
//! Kasa finds the system's PostgreSQL server binaries, creates a cluster under its data directory
//! on first start (`initdb`), starts it listening only on a Unix socket inside that directory, and
//! stops it on shutdown. A second start reuses the data. PostgreSQL refuses to run as root, so
//! when Kasa runs as root the cluster runs as the unprivileged `postgres` system user. A small
//! watchdog process stops the cluster if Kasa dies without shutting down (SIGKILL, crash).
//!
//! This module must not know anything about Kasa's schema; it only hands out connect options.

use sqlx::postgres::PgConnectOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Superuser of the private cluster (trust authentication on its private socket).
pub const SUPERUSER: &str = "kasa";
const SYSTEM_USER_WHEN_ROOT: &str = "postgres";

/// Why the private cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install them \
         (Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server`; \
         macOS: `brew install postgresql`), set KASA_PG_BINDIR to their directory, or point \
         DATABASE_URL at an existing server."
    )]
    BinariesNotFound,
    #[error(
        "Kasa runs as root, so PostgreSQL must run as the `postgres` system user, which does not \
         exist. Install Debian's `postgresql` package (it creates the user) or run Kasa as a \
         normal user."
    )]
    NoUnprivilegedUser,
    #[error(
        "the `postgres` system user cannot reach {0}; put the data directory somewhere it can \
         enter (KASA_DATA_DIR), or run Kasa as a normal user"
    )]
    DirectoryNotReachable(PathBuf),
    #[error("the data directory path {0} contains a quote character, which PostgreSQL cannot use")]
    UnusablePath(PathBuf),
    #[error("{step} failed: {detail}")]
    Command { step: &'static str, detail: String },
    #[error("I/O error preparing the cluster directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Extra `postgres -c` settings, e.g. faster but unsafe ones for tests.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub settings: Vec<(String, String)>,
    /// Start a watchdog that stops the cluster when this process exits.
    pub watchdog: bool,
    /// With the watchdog: also delete the cluster directory after stopping it (test clusters).
    pub remove_on_exit: bool,
}

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedCluster {
    dir: PathBuf,
    bindir: PathBuf,
    run_as: Option<String>,
    started_here: bool,
}

impl EmbeddedCluster {
    /// Creates (if needed) and starts the cluster in `dir`. Blocking: call it from a blocking
    /// context or before the async runtime serves requests.
    pub fn start(dir: &Path, options: &ClusterOptions) -> Result<Self, Error> {
        let bindir = find_bindir().ok_or(Error::BinariesNotFound)?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        if dir.to_string_lossy().contains('\'') || dir.to_string_lossy().contains('"') {
            return Err(Error::UnusablePath(dir));
        }
        let run_as = if rustix::process::geteuid().is_root() {
            Some(prepare_for_system_user(&dir)?)
        } else {
            None
        };
        let mut cluster = Self {
            dir,
            bindir,
            run_as,
            started_here: false,
        };
        if !cluster.dir.join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        if cluster.is_running() {
            tracing::info!(dir = %cluster.dir.display(), "reusing the running private PostgreSQL cluster");
        } else {
            cluster.pg_ctl_start(options)?;
            cluster.started_here = true;
            if options.watchdog {
                cluster.spawn_watchdog(options.remove_on_exit)?;
            }
        }
        Ok(cluster)
    }

    /// Connect options for a database of this cluster (Unix socket, superuser).
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.dir)
            .username(SUPERUSER)
            .database(database)
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the cluster if this process started it. Blocking.
    pub fn stop(&self) {
        if !self.started_here {
            return;
        }
        match self
            .command("pg_ctl")
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(&self.dir)
            .output()
        {
            Ok(out) if out.status.success() => tracing::info!("private PostgreSQL cluster stopped"),
            Ok(out) => tracing::warn!(
                stderr = %String::from_utf8_lossy(&out.stderr),
                "stopping the private PostgreSQL cluster failed"
            ),
            Err(error) => tracing::warn!(%error, "could not run pg_ctl stop"),
        }
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bindir.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        // Own process group: a Ctrl-C in the terminal must reach Kasa, which then stops the
        // cluster in order, not PostgreSQL directly.
        command.process_group(0).stdin(Stdio::null());
        command
    }

    fn initdb(&self) -> Result<(), Error> {
        tracing::info!(dir = %self.dir.display(), "creating the private PostgreSQL cluster");
        let out = self
            .command("initdb")
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ])
            .args(["--locale=C", "-D"])
            .arg(&self.dir)
            .output()?;
        check("initdb", &out)
    }

    fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn pg_ctl_start(&self, options: &ClusterOptions) -> Result<(), Error> {
        // pg_ctl hands -o to a shell: single-quote the socket directory (quotes were rejected).
        let mut server_options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c unix_socket_permissions=0700",
            self.dir.display()
        );
        for (name, value) in &options.settings {
            server_options.push_str(&format!(" -c {name}={value}"));
        }
        let out = self
            .command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-l"])
            .arg(self.dir.join("server.log"))
            .arg("-o")
            .arg(server_options)
            .arg("-D")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .output()?;
        check("pg_ctl start", &out).map_err(|e| match e {
            Error::Command { step, detail } => Error::Command {
                step,
                detail: format!("{detail} (see {}/server.log)", self.dir.display()),
            },
            other => other,
        })
    }

    /// A detached shell loop that waits for this process to end and then stops the cluster.
    fn spawn_watchdog(&self, remove_on_exit: bool) -> Result<(), Error> {
        let pg_ctl = self.bindir.join("pg_ctl");
        let stop = match &self.run_as {
            Some(user) => format!(
                "runuser -u {user} -- '{}' stop -m fast -D '{}'",
                pg_ctl.display(),
                self.dir.display()
            ),
            None => format!(
                "'{}' stop -m fast -D '{}'",
                pg_ctl.display(),
                self.dir.display()
            ),
        };
        let remove = if remove_on_exit {
            format!("; rm -rf '{}'", self.dir.display())
        } else {
            String::new()
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1{remove}",
            pid = std::process::id()
        );
        Command::new("sh")
            .args(["-c", &script])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(())
    }
}

fn check(step: &'static str, out: &std::process::Output) -> Result<(), Error> {
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            step,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Gives the cluster directory to the `postgres` system user and checks it can reach it.
fn prepare_for_system_user(dir: &Path) -> Result<String, Error> {
    let out = Command::new("id")
        .args(["-u", SYSTEM_USER_WHEN_ROOT])
        .output()
        .map_err(|_| Error::NoUnprivilegedUser)?;
    let uid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| Error::NoUnprivilegedUser)?;
    let out = Command::new("id")
        .args(["-g", SYSTEM_USER_WHEN_ROOT])
        .output()
        .map_err(|_| Error::NoUnprivilegedUser)?;
    let gid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| Error::NoUnprivilegedUser)?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    let reachable = Command::new("runuser")
        .args(["-u", SYSTEM_USER_WHEN_ROOT, "--", "test", "-w"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !reachable {
        return Err(Error::DirectoryNotReachable(dir.to_path_buf()));
    }
    Ok(SYSTEM_USER_WHEN_ROOT.to_owned())
}

/// Where the server binaries are: `KASA_PG_BINDIR`, `pg_config --bindir`, `PATH`, or the newest
/// `/usr/lib/postgresql/*/bin`.
fn find_bindir() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).exists())
    };
    if let Some(dir) = std::env::var_os("KASA_PG_BINDIR").map(PathBuf::from) {
        return complete(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && complete(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if complete(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}
