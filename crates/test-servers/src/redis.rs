//! A private `redis-server` per call, which starts in milliseconds: the shared rate limits and
//! holds are tested against the real server, and [`TestRedis::stop`] and
//! [`TestRedis::restart`] take the store away and bring it back to test the fallbacks.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use crate::watchdog::{self, Startup};

const HINT: &str = "run `bash scripts/ensure-servers` (it installs Debian's redis-server), or \
                    set KEYROUTE_REDIS_SERVER to a redis-server binary";
const READY: &str = "Ready to accept connections";

/// A new Redis without a password. Panics when redis-server is missing or does not start.
pub fn start() -> TestRedis {
    TestRedis::start(None)
}

/// A new Redis that refuses commands until `AUTH <password>`.
pub fn start_with_password(password: &str) -> TestRedis {
    TestRedis::start(Some(password.to_owned()))
}

/// A running (or, after [`Self::stop`], stopped) Redis on a loopback port of its own, without
/// persistence. Dropping it stops it.
pub struct TestRedis {
    binary: PathBuf,
    port: u16,
    password: Option<String>,
    watchdog: Option<Child>,
}

impl TestRedis {
    fn start(password: Option<String>) -> TestRedis {
        let binary = match binary() {
            Ok(binary) => binary,
            Err(error) => panic!("{error}"),
        };
        let mut taken = Vec::new();
        for _ in 0..5 {
            let port = match watchdog::free_port() {
                Ok(port) => port,
                Err(error) => panic!("cannot find a free port for Redis: {error}"),
            };
            let mut redis = TestRedis {
                binary: binary.clone(),
                port,
                password: password.clone(),
                watchdog: None,
            };
            match redis.launch() {
                Ok(()) => return redis,
                Err(Startup::PortInUse) => taken.push(port),
                Err(error) => panic!("Redis did not start on port {port}: {error}"),
            }
        }
        panic!("Redis did not start: ports {taken:?} were taken");
    }

    /// `redis://127.0.0.1:<port>/`, or `redis://:<password>@127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        match &self.password {
            None => format!("redis://127.0.0.1:{}/", self.port),
            Some(password) => format!(
                "redis://:{}@127.0.0.1:{}/",
                percent_encode(password),
                self.port
            ),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub fn is_running(&self) -> bool {
        self.watchdog.is_some()
    }

    /// Kills the server (SIGKILL, as a crash would) and returns once it is gone: connections
    /// to its port are then refused. Does nothing when it is stopped already.
    pub fn stop(&mut self) {
        if let Some(child) = self.watchdog.take() {
            watchdog::stop(child);
        }
    }

    /// Starts a new, empty server on the same port and password, stopping the old one first if
    /// it still runs. Panics when it does not start (another process took the port, say).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(error) = self.launch() {
            panic!("Redis did not restart on port {}: {error}", self.port);
        }
    }

    fn launch(&mut self) -> Result<(), Startup> {
        let dir = tempfile::Builder::new()
            .prefix("keyroute-redis-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|error| Startup::Failed(format!("cannot make its directory: {error}")))?
            .keep();
        let log = dir.join("redis.log");
        let mut args: Vec<OsString> = vec![
            "--port".into(),
            self.port.to_string().into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--daemonize".into(),
            "no".into(),
            "--dir".into(),
            dir.clone().into(),
        ];
        if let Some(password) = &self.password {
            args.extend(["--requirepass".into(), password.into()]);
        }
        let spawned = watchdog::spawn("KILL", &dir, &log, &self.binary, args, None);
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = fs::remove_dir_all(&dir);
                let binary = self.binary.display();
                return Err(Startup::Failed(format!("cannot start {binary}: {error}")));
            }
        };
        let addr = self.addr();
        let password = self.password.as_deref();
        let startup = watchdog::wait_ready(&mut child, &log, Duration::from_secs(20), |log| {
            log.contains(READY) && ping(addr, password)
        });
        match startup {
            Startup::Ready => {
                self.watchdog = Some(child);
                Ok(())
            }
            failure => {
                let _ = fs::remove_dir_all(&dir);
                Err(failure)
            }
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for TestRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRedis")
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("running", &self.is_running())
            .finish()
    }
}

/// `KEYROUTE_REDIS_SERVER`, else `redis-server` on PATH.
fn binary() -> Result<PathBuf, String> {
    if let Some(binary) = env::var_os("KEYROUTE_REDIS_SERVER") {
        let binary = PathBuf::from(binary);
        if binary.is_file() {
            return Ok(binary);
        }
        return Err(format!(
            "KEYROUTE_REDIS_SERVER={} is not a file: {HINT}",
            binary.display()
        ));
    }
    env::split_paths(&env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("redis-server"))
        .find(|binary| binary.is_file())
        .ok_or_else(|| format!("redis-server is not installed: {HINT}"))
}

/// Whether the server answers `PING` (after `AUTH` when it has a password) with `+PONG`.
fn ping(addr: SocketAddr, password: Option<&str>) -> bool {
    let timeout = Duration::from_secs(1);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let mut request = Vec::new();
    if let Some(password) = password {
        request.extend(command(&["AUTH", password]));
    }
    request.extend(command(&["PING"]));
    if stream.write_all(&request).is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let mut buffer = [0; 256];
    loop {
        if reply.windows(7).any(|window| window == b"+PONG\r\n") {
            return true;
        }
        if reply.starts_with(b"-") || reply.windows(3).any(|window| window == b"\n-") {
            return false;
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return false,
            Ok(read) => reply.extend_from_slice(&buffer[..read]),
        }
    }
}

/// A command in RESP: an array of bulk strings.
fn command(parts: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        out.extend(format!("${}\r\n", part.len()).into_bytes());
        out.extend(part.as_bytes());
        out.extend(b"\r\n");
    }
    out
}

/// Everything but RFC 3986's unreserved characters, as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
