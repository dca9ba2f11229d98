"""The services outside the cluster that the postgres overlay's vault and routers need, started
here for the smoke test: a PostgreSQL that accepts TLS alone, with a CA and server certificate
made with openssl, and the checks that the vaults verify it and reach it over TLS only; a Redis
for the routers' shared rate limits. Each comes with the stand-in for the Secrets naming it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from cluster import PG_ADDR, PG_NAME, REDIS_ADDR, REDIS_NAME, Pod
from harness import fail, run, stop


def database_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of the test's own and a server certificate it signs for PG_NAME alone (no address:
    the vault can verify the database only by that name), with openssl; EC P-256 signed with
    SHA-256, so that SCRAM binds the login to the TLS session. The CA's key stays in `folder`.
    Returns the CA's certificate, the server's certificate and its key."""
    openssl = shutil.which("openssl")
    if not openssl:
        fail("openssl is missing (it makes the test database's certificates)")
    folder.mkdir(mode=0o700)
    ca_key, ca_crt, key, crt = (folder / n for n in ("ca.key", "ca.crt", "server.key", "server.crt"))
    (folder / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                                   "subjectKeyIdentifier=hash\n")
    (folder / "server.ext").write_text(f"subjectAltName=DNS:{PG_NAME}\nbasicConstraints=critical,CA:FALSE\n"
                                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                                       "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    for private in (ca_key, key):
        run([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(private)])
    run([openssl, "req", "-new", "-key", str(ca_key), "-subj", "/CN=keyroute smoke database CA", "-out",
         str(folder / "ca.csr")])
    run([openssl, "x509", "-req", "-in", str(folder / "ca.csr"), "-signkey", str(ca_key), "-sha256", "-days", "2",
         "-set_serial", f"0x{os.urandom(8).hex()}", "-extfile", str(folder / "ca.ext"), "-out", str(ca_crt)])
    run([openssl, "req", "-new", "-key", str(key), "-subj", f"/CN={PG_NAME}", "-out", str(folder / "server.csr")])
    run([openssl, "x509", "-req", "-in", str(folder / "server.csr"), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-sha256", "-days", "2", "-set_serial", f"0x{os.urandom(8).hex()}", "-extfile", str(folder / "server.ext"),
         "-out", str(crt)])
    return ca_crt, crt, key


class Database:
    """A PostgreSQL for the vault replicas that accepts TLS alone, in `pg` (apart from the
    test's folder, which stays private to root: certificates and KEK), as the `postgres`
    account when root: `ssl = on` with a server certificate for PG_NAME from the test's CA
    (database_certificates, made in `ca_dir`), and pg_hba.conf's only TCP line `hostssl`, so
    the server itself refuses a plaintext login. The vault's user `keyroute` owns database
    `keyroute` and is no superuser; the test's superuser `postgres` comes in through the Unix
    socket in `pg`. `secrets` stands in for the Secrets keyroute-vault-db (the URL with
    ?sslmode=verify-full, the password) and keyroute-vault-db-ca (the test's CA)."""

    def __init__(self, pg: Path, ca_dir: Path) -> None:
        self.pg = pg
        self.bin_dir = os.environ.get("KEYROUTE_PG_BIN") or next(
            (str(d) for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
             if (d / "postgres").exists()),
            str(Path(shutil.which("postgres") or "postgres").parent))
        self.user = "postgres" if os.geteuid() == 0 else None
        ca, cert, key = database_certificates(ca_dir)
        shutil.copy(cert, pg / "server.crt")
        shutil.copy(key, pg / "server.key")
        (pg / "server.key").chmod(0o600)
        if self.user:
            for path in (pg, pg / "server.crt", pg / "server.key"):
                shutil.chown(path, self.user)
        done = subprocess.run([f"{self.bin_dir}/initdb", "-D", str(pg / "data"), "-U", "postgres",
                               "--auth-local=trust", "--auth-host=reject", "--encoding=UTF8", "--locale=C",
                               "--no-sync"], user=self.user, capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"initdb: {done.stdout}{done.stderr}")
        # TCP: TLS only (no `host` line). A plaintext connection matches no line: refused.
        (pg / "data" / "pg_hba.conf").write_text(
            "# the test's superuser, through the Unix socket in its private folder\n"
            "local all postgres trust\n"
            "# the vault: TLS only, SCRAM\n"
            "hostssl keyroute keyroute 127.0.0.0/8 scram-sha-256\n")
        self.server = subprocess.Popen(
            [f"{self.bin_dir}/postgres", "-D", str(pg / "data"), "-k", str(pg), "-c", "fsync=off",
             "-c", f"listen_addresses={PG_ADDR[0]}", "-p", str(PG_ADDR[1]), "-c", "ssl=on",
             "-c", f"ssl_cert_file={pg / 'server.crt'}", "-c", f"ssl_key_file={pg / 'server.key'}",
             "-c", "password_encryption=scram-sha-256"],
            user=self.user, stdout=(pg / "log").open("wb"), stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while self.psql("SELECT 1", check=False) is None:
                if self.server.poll() is not None or time.monotonic() > deadline:
                    fail(f"PostgreSQL did not start: {(pg / 'log').read_text()[-2000:]}")
                time.sleep(0.2)
            self.password = os.urandom(12).hex()
            self.psql(f"CREATE ROLE keyroute LOGIN PASSWORD '{self.password}'", stdin=True)
            self.psql("CREATE DATABASE keyroute OWNER keyroute")
        except BaseException:
            self.stop()
            raise
        self.secrets = {
            "keyroute-vault-db": {"url": f"postgres://keyroute@{PG_NAME}:{PG_ADDR[1]}/keyroute?sslmode=verify-full",
                                  "password": self.password},
            "keyroute-vault-db-ca": {"ca.crt": ca.read_text()},
        }

    def psql(self, sql: str, check: bool = True, stdin: bool = False) -> list[list[str]] | None:
        """`sql` as the superuser (through the Unix socket); its rows, fields split. With
        `stdin`, the statement goes in on psql's standard input (a password stays out of the
        process list). None when it failed and `check` is off."""
        argv = [f"{self.bin_dir}/psql", "-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", str(self.pg),
                "-p", str(PG_ADDR[1]), "-U", "postgres", "-d", "postgres"]
        done = subprocess.run(argv + ([] if stdin else ["-c", sql]), input=sql if stdin else None, user=self.user,
                              capture_output=True, text=True)
        if done.returncode != 0:
            if check:
                fail(f"psql: {done.stderr}")
            return None
        return [line.split("|") for line in done.stdout.splitlines() if line]

    def plaintext_refusal(self) -> str:
        """What the server answers a plaintext login by the vault's user and password (with
        libpq's psql, sslmode=disable): it must refuse it."""
        env = dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="5")
        done = subprocess.run([f"{self.bin_dir}/psql", "-X", "-At", "-c", "SELECT 1",
                               f"host={PG_NAME} port={PG_ADDR[1]} user=keyroute dbname=keyroute sslmode=disable"],
                              env=env, capture_output=True, text=True)
        said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        if done.returncode == 0 or "no pg_hba.conf entry" not in said or "no encryption" not in said:
            fail(f"PostgreSQL should refuse a plaintext login: exit {done.returncode}, {done.stdout}{done.stderr}")
        return said.split("FATAL:", 1)[-1].strip()

    def stop(self) -> None:
        stop(self.server, signal.SIGQUIT)  # PostgreSQL's immediate shutdown, children included


def tcp_ports(pid: int, peer: tuple[str, int]) -> set[int]:
    """The local ports of process `pid`'s established TCP connections to `peer`, from /proc (its
    sockets' inodes against the connection table)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    # The table prints an IPv4 address as the 32-bit word it is in memory, in hex.
    remote = "%08X:%04X" % (struct.unpack("=I", socket.inet_aton(peer[0]))[0], peer[1])
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == remote and fields[3] == "01" and fields[9] in inodes:
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


def database_tls(database: Database, pods: dict[str, Pod], vaults: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Every connection of the vault's user, as the server sees it (pg_stat_activity joined with
    pg_stat_ssl, read by the superuser), must be TLS, and each vault process must hold at least
    one, matched by its client port; returns each vault's connections' (TLS version, cipher)."""
    deadline = time.monotonic() + 10
    while True:
        ports = {v: tcp_ports(pods[v].process.pid, PG_ADDR) for v in vaults}  # type: ignore[union-attr]
        rows = database.psql("SELECT a.client_port, s.ssl, coalesce(s.version, ''), coalesce(s.cipher, '') "
                             "FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid "
                             "WHERE a.usename = 'keyroute' AND a.application_name = 'keyroute-vault'") or []
        seen = {int(port): (ssl, version, cipher) for port, ssl, version, cipher in rows}
        plain = [port for port, (ssl, _, _) in seen.items() if ssl != "t"]
        if plain:
            fail(f"vault connections to PostgreSQL without TLS (client ports {plain}): {seen}")
        if all(ports[v] and ports[v] <= seen.keys() for v in vaults):
            return {v: [seen[port][1:] for port in sorted(ports[v])] for v in vaults}
        if time.monotonic() > deadline:
            fail(f"each vault should hold TLS connections to PostgreSQL: theirs {ports}, the server's {seen}")
        time.sleep(0.2)


def impostor_refused(pod: Pod) -> str:
    """The vault pod's command and environment, its URL naming the database by its address,
    which the server's certificate does not carry: verify-full must refuse it at start. Returns
    its exit code and why."""
    url = pod.env["KEYROUTE_VAULT_DB"].replace(f"@{PG_NAME}:", f"@{PG_ADDR[0]}:")
    try:
        done = subprocess.run(pod.argv, env=dict(pod.env, KEYROUTE_VAULT_DB=url), capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        fail(f"a vault given {url} should refuse the database's certificate, and kept running")
    said = done.stdout + done.stderr
    if done.returncode == 0 or "did not verify" not in said:
        fail(f"a vault given {url} should refuse the database's certificate: exit {done.returncode}, {said[-1500:]}")
    line = next(line for line in said.splitlines() if "did not verify" in line)
    return f"exit {done.returncode}, {line[line.find('the PostgreSQL server'):].strip()[:300]}"


def redis_call(password: str, *command: str) -> bytes:
    """One command to the test's Redis after AUTH, over RESP; its one-line reply."""
    payload = b""
    for words in (("AUTH", password), command):
        payload += f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)
    with socket.create_connection(REDIS_ADDR, timeout=2) as conn:
        conn.sendall(payload)
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    auth, _, answer = reply.partition(b"\r\n")
    if auth != b"+OK":
        raise OSError(f"AUTH: {auth!r}")
    return answer.split(b"\r\n", 1)[0]


def start_redis(folder: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """A Redis for the routers' rate limits (Debian's redis-server, scripts/ensure-servers, or
    KEYROUTE_REDIS_SERVER) on a loopback address of its own, with a password and no
    persistence, working in `folder`; and the stand-in for Secret keyroute-ratelimit-redis."""
    binary = os.environ.get("KEYROUTE_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        fail("redis-server is missing (bash scripts/ensure-servers installs it)")
    password = os.urandom(12).hex()
    server = subprocess.Popen([binary, "--bind", REDIS_ADDR[0], "--port", str(REDIS_ADDR[1]), "--requirepass", password,
                               "--save", "", "--appendonly", "no", "--dir", str(folder), "--daemonize", "no"],
                              stdout=(folder / "redis.log").open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            if redis_call(password, "PING") == b"+PONG":
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            fail(f"Redis did not start: {(folder / 'redis.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return server, {"url": f"redis://{REDIS_NAME}:{REDIS_ADDR[1]}", "password": password}


def uses_redis(workload: dict) -> bool:
    """Whether the workload's containers are given a Redis for rate limits."""
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return any(e["name"] == "KEYROUTE_RATE_LIMIT_REDIS" for e in container.get("env", [])) or any(
        a.startswith("--rate-limit-redis=") for a in container.get("args", []))
