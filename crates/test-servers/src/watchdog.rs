//! Ties a server's life to the test process's without unsafe code. `PR_SET_PDEATHSIG` would
//! need unsafe, and it fires when the spawning thread ends, which is one test's thread; a pipe
//! closes only when the last holder of its write end is gone: this process, however it exits.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// `sh -c SCRIPT watchdog SIGNAL DIR PROGRAM ARGS...`: runs the server in the background, with
/// its output where the watchdog's goes. A watcher blocks reading the pipe (fd 3, duplicated
/// before the background list's stdin becomes /dev/null) until it closes, then marks the stop
/// as asked for and signals the server. Once the server has exited, an asked-for stop removes
/// DIR; an unexpected exit removes only DIR/data and keeps the log for the panic message.
const SCRIPT: &str = r#"
sig=$1 dir=$2
shift 2
exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
(read -r _ <&3; : >"$dir/stopped"; kill -"$sig" "$server" 2>/dev/null) &
watcher=$!
exec 3<&-
wait "$server"
kill "$watcher" 2>/dev/null
if [ -e "$dir/stopped" ]; then rm -rf "$dir"; else rm -rf "$dir/data"; fi
"#;

/// The account a server runs as when it is not this process's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Owner {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// Starts `program` under the watchdog, in `dir` (which the watchdog removes after an asked-for
/// stop), appending its output to `log`. Dropping the child's stdin, or this process ending,
/// sends `signal` to the server.
pub(crate) fn spawn<I, S>(
    signal: &str,
    dir: &Path,
    log: &Path,
    program: &Path,
    args: I,
    owner: Option<Owner>,
) -> io::Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let log = OpenOptions::new().create(true).append(true).open(log)?;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg("keyroute-watchdog")
        .arg(signal)
        .arg(dir)
        .arg(program)
        .args(args)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Out of the terminal's process group: Ctrl-C stops the tests, and the closed pipe then
        // stops the server, rather than the signal killing the watchdog before it cleans up.
        .process_group(0);
    if let Some(owner) = owner {
        command.uid(owner.uid).gid(owner.gid);
    }
    command.spawn()
}

/// Asks the watchdog to stop its server and waits until it has (and has removed its files).
pub(crate) fn stop(mut child: Child) {
    drop(child.stdin.take());
    // Nothing to do about an error: the server is gone or out of reach either way.
    let _ = child.wait();
}

/// How a start ended.
#[derive(Debug)]
pub(crate) enum Startup {
    Ready,
    /// Another process took the port between our probe and the server's bind.
    PortInUse,
    Failed(String),
}

/// Polls until `ready(log)` holds, the server exits, or `timeout` passes (then stops it). A
/// server's "ready" log line comes after its bind, so a listener that answers on the port is
/// known to be this server, not another that took the port.
pub(crate) fn wait_ready(
    child: &mut Child,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut(&str) -> bool,
) -> Startup {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                let text = read_log(log);
                if text.contains("Address already in use") {
                    return Startup::PortInUse;
                }
                return Startup::Failed(format!(
                    "it exited ({status}) while starting; its log:\n{}",
                    tail(&text)
                ));
            }
            Err(error) => return Startup::Failed(format!("cannot wait for it: {error}")),
        }
        if ready(&read_log(log)) {
            return Startup::Ready;
        }
        if Instant::now() > deadline {
            let text = tail(&read_log(log));
            drop(child.stdin.take());
            let _ = child.wait();
            return Startup::Failed(format!(
                "it was not ready after {timeout:?}; its log:\n{text}"
            ));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

impl fmt::Display for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Startup::Ready => f.write_str("ready"),
            Startup::PortInUse => f.write_str("its port was taken"),
            Startup::Failed(error) => f.write_str(error),
        }
    }
}

pub(crate) fn read_log(log: &Path) -> String {
    fs::read(log)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last lines of a log, for a panic message.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A loopback port that was free a moment ago; a server that then fails to bind it reports
/// [`Startup::PortInUse`], and the caller tries another.
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
