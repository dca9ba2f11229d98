//! Finding PostgreSQL, the account it runs as, and the cluster a server starts from: a copy of
//! a template that `initdb` made once for this binary and account, kept in the temp directory.

use std::env;
use std::fs;
use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher, RandomState};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};

use super::USER;
use crate::watchdog::Owner;

const HINT: &str = "run `bash scripts/ensure-servers` (it installs Debian's postgresql), or \
                    set KEYROUTE_PG_BIN to the directory holding postgres and initdb";

/// Changes whenever `initdb`'s arguments do, so that no process uses an older template.
const TEMPLATE_FORMAT: u32 = 1;

/// `KEYROUTE_PG_BIN`, else the newest /usr/lib/postgresql/<version>/bin (Debian's layout),
/// else the directory on PATH holding `postgres`.
pub(super) fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = env::var_os("KEYROUTE_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("postgres").is_file() {
            return Ok(dir);
        }
        return Err(format!(
            "KEYROUTE_PG_BIN={} holds no postgres binary: {HINT}",
            dir.display()
        ));
    }
    let debian = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: Vec<u32> = (entry.file_name().to_str()?.split('.'))
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max();
    if let Some((_, bin)) = debian {
        return Ok(bin);
    }
    env::split_paths(&env::var_os("PATH").unwrap_or_default())
        .find(|dir| dir.join("postgres").is_file())
        .ok_or_else(|| format!("PostgreSQL is not installed: {HINT}"))
}

/// PostgreSQL refuses to run as root: then it runs as the `postgres` account Debian's package
/// makes. Otherwise it runs as this process's user (`None`).
pub(super) fn server_owner() -> Result<Option<Owner>, String> {
    if effective_uid()? != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd")
        .map_err(|error| format!("cannot read /etc/passwd: {error}"))?;
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == "postgres").then_some(())?;
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some(Some(Owner { uid, gid }))
        })
        .ok_or_else(|| {
            format!(
                "PostgreSQL refuses to run as root, and there is no `postgres` account to run \
                 it as: {HINT}"
            )
        })
}

/// Whom this process's new files belong to: its effective uid, without `geteuid`'s unsafe.
fn effective_uid() -> Result<u32, String> {
    tempfile::tempfile()
        .and_then(|file| file.metadata())
        .map(|metadata| metadata.uid())
        .map_err(|error| format!("cannot make a file in the temp directory: {error}"))
}

/// Fills `dir/data` with a new cluster whose superuser is [`USER`], and hands `dir` to the
/// server's account. Returns the superuser's password, and whether the cluster is a copy of an
/// earlier process's template (which a failure to start may blame).
pub(super) fn prepare(
    bin: &Path,
    owner: Option<Owner>,
    dir: &Path,
) -> Result<(String, bool), String> {
    if let Some(owner) = owner {
        chown(dir, Some(owner.uid), Some(owner.gid))
            .map_err(|error| format!("cannot give {} to postgres: {error}", dir.display()))?;
    }
    let template = template_path(bin, owner)?;
    if let Some(password) = usable_template(&template, owner)? {
        copy_dir(&template.join("data"), &dir.join("data"))?;
        return Ok((password, true));
    }
    let staging = tempfile::Builder::new()
        .prefix("keyroute-pg-template-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|error| format!("cannot make a directory for initdb: {error}"))?;
    let password = initdb(bin, owner, staging.path())?;
    // Whoever renames first makes the template; a process that loses the race, or finds
    // another account's directory in the way, uses its own cluster this once.
    let staging = staging.keep();
    let mut renamed = fs::rename(&staging, &template).is_ok();
    if !renamed && usable_template(&template, owner)?.is_none() && owned(&template, owner)? {
        // Ours but broken (the temp directory's cleaner took some of it, say): replace it.
        let _ = fs::remove_dir_all(&template);
        renamed = fs::rename(&staging, &template).is_ok();
    }
    if renamed {
        copy_dir(&template.join("data"), &dir.join("data"))?;
    } else {
        let moved = fs::rename(staging.join("data"), dir.join("data"));
        let _ = fs::remove_dir_all(&staging);
        moved.map_err(|error| format!("cannot move the new cluster: {error}"))?;
    }
    Ok((password, false))
}

/// Removes the template, after a copy of it failed to start.
pub(super) fn forget_template(bin: &Path, owner: Option<Owner>) {
    if let Ok(template) = template_path(bin, owner) {
        let _ = fs::remove_dir_all(template);
    }
}

/// The template's place: per account, per PostgreSQL binary (its path, size and time) and per
/// [`TEMPLATE_FORMAT`], so that an upgraded package gets a new one.
fn template_path(bin: &Path, owner: Option<Owner>) -> Result<PathBuf, String> {
    let postgres = bin.join("postgres");
    let metadata = fs::metadata(&postgres)
        .map_err(|error| format!("cannot read {}: {error}", postgres.display()))?;
    let mut key = DefaultHasher::new();
    (TEMPLATE_FORMAT, &postgres, metadata.len()).hash(&mut key);
    (metadata.mtime(), metadata.mtime_nsec()).hash(&mut key);
    let account = account(owner)?;
    Ok(env::temp_dir().join(format!(
        "keyroute-pg-template-{account}-{:016x}",
        key.finish()
    )))
}

/// The template's password when the template is whole and is the server account's own (not
/// something another user left at that name).
fn usable_template(template: &Path, owner: Option<Owner>) -> Result<Option<String>, String> {
    let Ok(metadata) = fs::symlink_metadata(template) else {
        return Ok(None);
    };
    if !metadata.is_dir() || !owned(template, owner)? || metadata.mode() & 0o022 != 0 {
        return Ok(None);
    }
    if !template.join("data/global/pg_control").is_file() {
        return Ok(None);
    }
    Ok(fs::read_to_string(template.join("password")).ok())
}

/// Whether `path` itself (not a link's target) belongs to the server's account.
fn owned(path: &Path, owner: Option<Owner>) -> Result<bool, String> {
    let account = account(owner)?;
    Ok(fs::symlink_metadata(path).is_ok_and(|metadata| metadata.uid() == account))
}

/// The server's account's uid.
fn account(owner: Option<Owner>) -> Result<u32, String> {
    match owner {
        Some(owner) => Ok(owner.uid),
        None => effective_uid(),
    }
}

/// Runs `initdb` into `dir/data` as the server's account, with a new random password (in
/// `dir/password`, which initdb reads) for [`USER`], and returns the password.
fn initdb(bin: &Path, owner: Option<Owner>, dir: &Path) -> Result<String, String> {
    let random = || RandomState::new().hash_one(process::id());
    let password = format!("{:016x}{:016x}", random(), random());
    let password_file = dir.join("password");
    fs::write(&password_file, &password)
        .map_err(|error| format!("cannot write {}: {error}", password_file.display()))?;
    let mut command = Command::new(bin.join("initdb"));
    command
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-U", USER, "--auth=scram-sha-256", "--pwfile"])
        .arg(&password_file)
        .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    if let Some(owner) = owner {
        for path in [dir, &password_file] {
            chown(path, Some(owner.uid), Some(owner.gid))
                .map_err(|error| format!("cannot give {} to postgres: {error}", path.display()))?;
        }
        command.uid(owner.uid).gid(owner.gid);
    }
    let output = command
        .output()
        .map_err(|error| format!("cannot run {}: {error}", bin.join("initdb").display()))?;
    if !output.status.success() {
        return Err(format!(
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(password)
}

/// `cp -a`: the copy keeps the server account as its owner and the modes PostgreSQL checks.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let output = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run cp: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cannot copy {} to {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}
