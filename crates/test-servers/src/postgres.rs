//! One PostgreSQL server per test process, started on first use and shared by its tests, each
//! of which asks for a database of its own. Clients authenticate the way production's do: a
//! password (SCRAM-SHA-256) over TCP, given apart from the URL, since the vault refuses
//! passwords inside URLs.
//!
//! Starting takes a fraction of a second: the cluster `initdb` makes (the slow part, about a
//! second) is kept in the temp directory as a template for the next test process, and the
//! server runs without fsync, its data being thrown away with it.
//!
//! [`tls_database`] gives a database on a second server that takes TCP clients only over TLS,
//! with a certificate for `localhost` and 127.0.0.1 from a test CA ([`TestDatabase::ca_file`]).

mod cluster;
mod tls;

pub use tls::unrelated_ca_pem;

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::watchdog::{self, Startup};

/// The superuser every test connects as.
const USER: &str = "keyroute";
const READY: &str = "database system is ready to accept connections";

const SETTINGS: &[&str] = &[
    "listen_addresses=127.0.0.1",
    // TCP only: no socket file in a directory the server's account may not write.
    "unix_socket_directories=",
    // Many tests, each with a connection pool.
    "max_connections=200",
    // Durability is for data that outlives the test.
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    // Zero-filling each new 16 MB WAL segment made CREATE DATABASE take 170 ms, not 50.
    "wal_init_zero=off",
];

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static TLS_SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A new, empty database on this test process's server, which the first call starts.
///
/// Panics when PostgreSQL is not installed or does not start, with the server's log.
pub fn database() -> TestDatabase {
    create(SERVER.get_or_init(|| Server::start(false)))
}

/// A new, empty database on this test process's TLS-only server (`ssl = on`, pg_hba.conf
/// with `hostssl` lines only), which the first call starts: plaintext clients are refused.
///
/// Panics like [`database`].
pub fn tls_database() -> TestDatabase {
    create(TLS_SERVER.get_or_init(|| Server::start(true)))
}

fn create(server: &Result<Server, String>) -> TestDatabase {
    let server = match server {
        Ok(server) => server,
        Err(error) => panic!("{error}"),
    };
    let number = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
    let name = format!("test_{}_{number}", process::id());
    let database = TestDatabase {
        port: server.port,
        name,
        password: server.password.clone(),
        psql: server.psql.clone(),
        ca: server.ca.clone(),
    };
    let output = database
        .psql_on("postgres")
        .arg("-c")
        .arg(format!("CREATE DATABASE \"{}\"", database.name))
        .output();
    match output {
        Ok(output) if output.status.success() => database,
        Ok(output) => panic!(
            "cannot create database {}: {}\nPostgreSQL's log:\n{}",
            database.name,
            String::from_utf8_lossy(&output.stderr).trim(),
            watchdog::tail(&watchdog::read_log(&server.log)),
        ),
        Err(error) => panic!("cannot run {}: {error}", database.psql.display()),
    }
}

/// A database of its own for one test, on the process's shared server.
#[derive(Clone)]
pub struct TestDatabase {
    port: u16,
    name: String,
    password: String,
    psql: PathBuf,
    /// The CA of a TLS-only server's certificate.
    ca: Option<PathBuf>,
}

impl TestDatabase {
    /// `postgres://keyroute@127.0.0.1:<port>/<name>`: no password, see [`Self::password`].
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{}", self.port, self.name)
    }

    /// The password the URL's user needs.
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn user(&self) -> &str {
        USER
    }

    /// The server's loopback port, the same for every database of the process.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM file of the test CA that signed the server's certificate, on a TLS-only
    /// server ([`tls_database`]); `None` on the plaintext one.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// `psql` connected to this database with the password (`PGPASSWORD`), never prompting,
    /// printing bare rows and stopping at the first error: add `-c <sql>` and run it.
    pub fn psql(&self) -> Command {
        self.psql_on(&self.name)
    }

    fn psql_on(&self, database: &str) -> Command {
        let tls = match &self.ca {
            Some(ca) => format!("sslmode=verify-full sslrootcert='{}'", ca.display()),
            None => "sslmode=disable".to_owned(),
        };
        let mut command = Command::new(&self.psql);
        command
            .args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user={USER} dbname={database} {tls} connect_timeout=10",
                self.port
            ))
            .env("PGPASSWORD", &self.password)
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        command
    }
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &self.url())
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The running server. It lives in a static, never dropped: its watchdog stops it when the
/// process exits and the pipe to the watchdog's stdin closes.
struct Server {
    port: u16,
    password: String,
    psql: PathBuf,
    log: PathBuf,
    ca: Option<PathBuf>,
    _watchdog: Child,
}

impl Server {
    /// `tls`: the TLS-only kind, see [`tls_database`].
    fn start(tls: bool) -> Result<Server, String> {
        let bin = cluster::bin_dir()?;
        let owner = cluster::server_owner()?;
        let psql = match bin.join("psql") {
            psql if psql.is_file() => psql,
            _ => PathBuf::from("psql"),
        };
        let mut template_remade = false;
        let mut failures = Vec::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("keyroute-pg-")
                .permissions(fs::Permissions::from_mode(0o700))
                .tempdir()
                .map_err(|error| format!("cannot make PostgreSQL's directory: {error}"))?
                .keep();
            let failure = match attempt(&bin, owner, &dir, tls) {
                Ok(Started {
                    password,
                    port,
                    ca,
                    watchdog,
                }) => {
                    let log = dir.join("postgres.log");
                    return Ok(Server {
                        port,
                        password,
                        psql,
                        log,
                        ca,
                        _watchdog: watchdog,
                    });
                }
                Err(failure) => failure,
            };
            let _ = fs::remove_dir_all(&dir);
            match failure {
                Failure::PortInUse(port) => failures.push(format!("port {port} was taken")),
                // A template the temp directory's cleaner thinned out, say: make a new one.
                Failure::Failed {
                    error,
                    cached: true,
                } if !template_remade => {
                    template_remade = true;
                    cluster::forget_template(&bin, owner);
                    failures.push(error);
                }
                Failure::Failed { error, .. } => {
                    failures.push(error);
                    break;
                }
            }
        }
        Err(format!("PostgreSQL did not start: {}", failures.join("\n")))
    }
}

enum Failure {
    PortInUse(u16),
    /// `cached`: the cluster was a copy of a template from an earlier process.
    Failed {
        error: String,
        cached: bool,
    },
}

/// A server that started.
struct Started {
    password: String,
    port: u16,
    ca: Option<PathBuf>,
    watchdog: Child,
}

/// One try at a server in `dir`, TLS-only when `tls`.
fn attempt(
    bin: &Path,
    owner: Option<watchdog::Owner>,
    dir: &Path,
    tls: bool,
) -> Result<Started, Failure> {
    let failed = |error| Failure::Failed {
        error,
        cached: false,
    };
    let (password, cached) = cluster::prepare(bin, owner, dir).map_err(failed)?;
    let (ca, settings) = if tls {
        let files = tls::write(dir, owner).map_err(failed)?;
        (Some(files.ca), files.settings)
    } else {
        (None, Vec::new())
    };
    let port = watchdog::free_port()
        .map_err(|error| failed(format!("cannot find a free port: {error}")))?;
    let (watchdog, startup) = launch(bin, owner, dir, port, &settings).map_err(failed)?;
    match startup {
        Startup::Ready => Ok(Started {
            password,
            port,
            ca,
            watchdog,
        }),
        Startup::PortInUse => Err(Failure::PortInUse(port)),
        Startup::Failed(error) => Err(Failure::Failed { error, cached }),
    }
}

/// Starts the server on `dir/data` under its watchdog and waits until it is ready.
fn launch(
    bin: &Path,
    owner: Option<watchdog::Owner>,
    dir: &Path,
    port: u16,
    extra: &[String],
) -> Result<(Child, Startup), String> {
    let log = dir.join("postgres.log");
    let mut args: Vec<OsString> = vec![
        "-D".into(),
        dir.join("data").into(),
        "-p".into(),
        port.to_string().into(),
    ];
    for setting in SETTINGS
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        args.extend(["-c".into(), setting.into()]);
    }
    let mut child = watchdog::spawn("QUIT", dir, &log, &bin.join("postgres"), args, owner)
        .map_err(|error| format!("cannot start {}: {error}", bin.join("postgres").display()))?;
    let startup = watchdog::wait_ready(&mut child, &log, Duration::from_secs(60), |log| {
        log.contains(READY)
    });
    Ok((child, startup))
}
