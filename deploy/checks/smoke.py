"""Deploy smoke test: the rendered manifests, run as real processes on this machine.

Each container of the vault StatefulSet, the router Deployment (two replicas) and the edge
Deployment starts with the command, args and environment the manifests give it (`envFrom`
ConfigMaps included), its binary taken from the build. What a cluster would provide is stood
in for, and only that:
  - each pod gets a loopback address of its own; `0.0.0.0:` in a listen flag becomes it;
  - volumes are temporary folders mounted at the manifests' paths by rewriting those paths:
    TLS Secrets hold certificates from `keyroute certs dev`, the KEK Secret a keyring from
    `keyroute kek generate`, volume claims and emptyDirs are empty;
  - Service names resolve through /etc/hosts, bind-mounted in a private mount namespace (run
    this under `unshare --mount`): the headless Service names both router pods, the vault's
    Service every vault pod;
  - providers are the mock (`keyroute-mock`), set with the router's KEYROUTE_BASE_URLS.
First an internal platform's client runs as a process of its own (platform_client.py: Python
grpcio, stubs generated from proto/ by grpcio-tools into a temporary folder) with a
`platform/smoke` certificate from `keyroute certs issue`: it reaches the router by its Service
name, verifying the certificate the standard way (CA and host name), and calls ListModels and
Complete. Then it routes chat requests through the edge under load, checks both routers served, deletes
one router while the load goes on (endpoint removed and SIGTERM at once, before the edge
re-resolves: the worst order Kubernetes allows), and checks that no request failed and the
other router took over. A flag that a binary does
not know makes it exit 64 at start, which fails the test.

A rendering whose vault has several replicas (the postgres overlay) runs two vault pods on a
PostgreSQL started here (initdb into a temporary folder, as the `postgres` account when root)
that accepts TLS alone: `ssl = on` with a server certificate for the name the URL gives
(`keyroute-db-rw.keyroute-db.svc`, in /etc/hosts; the certificate carries that name and no
address) from a CA the test makes with openssl, and pg_hba.conf's only TCP line `hostssl`
(SCRAM), so the server itself refuses a plaintext login. The vault's user owns its database and
is no superuser. The Secret `keyroute-vault-db` is stood in for with its URL
(`?sslmode=verify-full`) and password, `keyroute-vault-db-ca` with the test's CA, the
`keyroute-vault` Service names both vault pods, and the admin calls alternate between them (the
user made through one, its token and key through the other), so the chat requests only succeed
if both share the database. Before the vaults start, the vault pod's own command and
environment with the URL naming the database by its address must stop at start, the
certificate refused (verify-full checks the name); once they are up, every connection of the
vault's user must be TLS as the server sees it (pg_stat_activity joined with pg_stat_ssl, read
by the test's superuser through the Unix socket), each vault process holding some (matched by
client port through /proc), and a plaintext login by psql must be refused; after the kill
below, the survivor's connections are checked again. When the routers are given a Redis
(KEYROUTE_RATE_LIMIT_REDIS, the postgres overlay), a redis-server is started too (Debian's,
from scripts/ensure-servers, or KEYROUTE_REDIS_SERVER) on a loopback address of its own with
`--requirepass` and no persistence, in the temporary folder, under a name of its own in
/etc/hosts; the Secret `keyroute-ratelimit-redis` is stood in for with its URL and password
(mounted as the file the manifests name). The user gets a rate limit far above the load
(`keyroute admin limits set`), so every call is counted in Redis and none refused: under load
both routers' `keyroute_router_rate_limit_redis_decisions_total` must rise, with
`keyroute_router_rate_limit_redis_up` 1 on both and the counters in Redis.

With two vaults, under the same load and before the router's deletion, the vault replica the
routers are connected to is killed with SIGKILL while its address stays first in the
`keyroute-vault` Service for a few seconds (the worst order Kubernetes allows for a crash:
the endpoint goes only after the kubelet has seen the container die), then leaves it. No
request may fail and no router may refuse one; the other replica, both routers and the edge
must be alive; each router must have reached the vault again (its revocation watch
resubscribed, its calls answered) while the dead address was still listed first, which
proves the routers' connector moves on to the next address of the name rather than assuming
it; the edge's management API (GET /api/v1/keys) must answer while the dead address is
listed, and `keyroute admin users list` and `keys list` through the survivor afterwards. For
every rendering, the vault must finally have recorded exactly one usage record per answered
request (records are idempotent by request id; a usage batch cut by the kill is sent again).

Set KEYROUTE_SMOKE_KEEP=1 to keep the temporary folder (the processes' logs).

usage: smoke.py RENDERED.yaml BIN_DIR
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

POD_IPS = {"vault": "127.0.10.1", "router-0": "127.0.10.2", "router-1": "127.0.10.3", "edge": "127.0.10.4",
           "vault-1": "127.0.10.5"}
PG_ADDR = ("127.0.10.20", 5432)
# The name the database URL gives, CloudNativePG's read-write Service in a namespace of its own:
# the test database's certificate carries this name alone.
PG_NAME = "keyroute-db-rw.keyroute-db.svc"
REDIS_ADDR = ("127.0.10.21", 6379)
# The name the Redis URL gives, as a Redis of its own namespace would be reached.
REDIS_NAME = "keyroute-ratelimit-redis.keyroute-redis.svc"
MOCK_ADDR = "127.0.10.9:18080"
MOCK_KEY = "sk-smoke-openai-0123456789"
REPO = Path(__file__).resolve().parent.parent.parent
# Resolves to a router too, but no certificate names it: a platform client must refuse it.
UNNAMED = "keyroute-unnamed"


def fail(message: str) -> None:
    print(f"smoke: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


class Cluster:
    """The rendered objects, by kind and name."""

    def __init__(self, rendered: Path) -> None:
        self.objects = [o for o in yaml.safe_load_all(rendered.read_text()) if o]

    def get(self, kind: str, name: str) -> dict:
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        fail(f"{kind}/{name} is not in the rendered manifests")
        raise AssertionError

    def config_map(self, name: str) -> dict[str, str]:
        return self.get("ConfigMap", name).get("data", {})


class Pod:
    """One pod's single container, as a process."""

    def __init__(self, name: str, workload: dict, cluster: Cluster, bin_dir: Path, root: Path, volumes: dict[str, Path],
                 secrets: dict[str, dict[str, str]]) -> None:
        self.name = name
        self.ip = POD_IPS[name]
        spec = workload["spec"]["template"]["spec"]
        container = spec["containers"][0]
        self.grace = spec.get("terminationGracePeriodSeconds", 30)
        mounts = {m["mountPath"]: str(volumes[m["name"]]) for m in container.get("volumeMounts", [])}
        # One pass, longest path first, whole path segments only: a folder put in place of a
        # mount path is never rewritten again.
        paths = sorted(mounts, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(p) + r"(?=/|$|[^\w.-])" for p in paths)) if paths else None

        def local(value: str) -> str:
            value = value.replace("0.0.0.0:", f"{self.ip}:")
            return pattern.sub(lambda m: mounts[m.group(0)], value) if pattern else value

        binary = bin_dir / Path(container["command"][0]).name
        if not binary.exists():
            fail(f"{binary} is missing")
        self.argv = [str(binary)] + [local(a) for a in container["command"][1:] + container.get("args", [])]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for source in container.get("envFrom", []):
            env.update(cluster.config_map(source["configMapRef"]["name"]))
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = local(item["value"])
            elif "secretKeyRef" in item.get("valueFrom", {}):
                ref = item["valueFrom"]["secretKeyRef"]
                if ref["name"] not in secrets:
                    fail(f"{name}: no stand-in for Secret {ref['name']}")
                env[item["name"]] = secrets[ref["name"]][ref["key"]]
            else:
                fail(f"{name}: no stand-in for env {item['name']}")
        self.env = env
        self.log = root / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = dict(self.env, **(extra_env or {}))
        self.process = subprocess.Popen(self.argv, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def check_alive(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            fail(f"{self.name} exited with {code}: {self.log.read_text()[-2000:]}")

    def delete(self) -> float:
        """SIGTERM, as the kubelet sends after preStop; waits at most the grace period."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=self.grace)
        except subprocess.TimeoutExpired:
            fail(f"{self.name} did not stop within terminationGracePeriodSeconds={self.grace}")
        if code != 0:
            fail(f"{self.name} exited with {code} on SIGTERM: {self.log.read_text()[-2000:]}")
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run(argv: list[str], stdin: str = "") -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"{' '.join(argv)}: {done.stderr}")
    return done.stdout


def http(method: str, url: str, body: dict | None = None, token: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 0, str(error).encode()


def scrape(ip: str, port: int = 9464) -> str:
    """A metrics port's exposition."""
    status, body = http("GET", f"http://{ip}:{port}/metrics")
    if status != 200:
        fail(f"metrics at {ip}:{port}: {status} {body[:200]!r}")
    return body.decode()


def sample(text: str, name: str, having: str = "") -> float:
    """The sum of a series' samples in an exposition (those whose labels contain `having`)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if (line.startswith(name + " ") or line.startswith(name + "{")) and having in line)


def metric(ip: str, name: str, port: int = 9464, having: str = "") -> float:
    """One series' sum, scraped now."""
    return sample(scrape(ip, port), name, having)


def served(ip: str) -> int:
    """Successful requests a router counted, from its metrics port."""
    return int(metric(ip, "keyroute_router_requests_total", having='outcome="ok"'))


def listening(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=1).close()
        return True
    except OSError:
        return False


def dns(service: str, namespace: str = "keyroute") -> str:
    """A Service's names as cluster DNS answers them: short, namespaced, .svc, .svc.cluster.local."""
    return f"{service} {service}.{namespace} {service}.{namespace}.svc {service}.{namespace}.svc.cluster.local"


def write_hosts(path: Path, routers: list[str], vaults: list[str]) -> None:
    """Service names as cluster DNS would answer them (written in place: it is bind-mounted).
    The vault's Service names every vault pod, in the order given (a client tries them in
    that order), as the router's headless Service does; Redis and PostgreSQL have names of
    their own."""
    lines = ["127.0.0.1 localhost", f"{REDIS_ADDR[0]} {REDIS_NAME}", f"{PG_ADDR[0]} {PG_NAME}"]
    lines += [f"{POD_IPS[v]} {dns('keyroute-vault')}" for v in vaults]
    lines += [f"{POD_IPS[r]} {dns('keyroute-router-headless')}" for r in routers]
    lines += [f"{POD_IPS[routers[0]]} {dns('keyroute-router')} {dns(UNNAMED)}"]
    with path.open("r+") as hosts:
        hosts.seek(0)
        hosts.write("\n".join(lines) + "\n")
        hosts.truncate()


def volumes_for(workload: dict, root: Path, certs: Path, kek: Path, pod: str,
                secrets: dict[str, dict[str, str]]) -> dict[str, Path]:
    """A folder for every volume the pod template names."""
    folders: dict[str, Path] = {}
    spec = workload["spec"]
    claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])]
    for name in claims:
        folders[name] = root / pod / name
        folders[name].mkdir(parents=True)
    for volume in spec["template"]["spec"].get("volumes", []):
        folder = root / pod / volume["name"]
        folder.mkdir(parents=True)
        if "secret" in volume:
            secret = volume["secret"]["secretName"]
            if secret in secrets:
                items = volume["secret"].get("items") or [{"key": k, "path": k} for k in secrets[secret]]
                for item in items:
                    (folder / item["path"]).write_text(secrets[secret][item["key"]])
            elif secret == "keyroute-kek":
                shutil.copy(kek, folder / "kek.json")
            elif secret.endswith("-tls"):
                component = secret.removeprefix("keyroute-").removesuffix("-tls")
                shutil.copy(certs / f"{component}.crt", folder / "tls.crt")
                shutil.copy(certs / f"{component}.key", folder / "tls.key")
                shutil.copy(certs / "ca.crt", folder / "ca.crt")
            else:
                fail(f"{pod}: no stand-in for Secret {secret}")
        folders[volume["name"]] = folder
    return folders


def platform_client(cluster: Cluster, keyroute: str, certs: Path, root: Path, token: str) -> None:
    """A platform's gRPC client, as a separate process, against the router's ClusterIP Service."""
    out = root / "platform"
    run([keyroute, "certs", "issue", "--ca-dir", str(certs), "--identity", "platform/smoke", "--out", str(out)])
    stubs = root / "stubs"
    stubs.mkdir()
    run([sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'proto'}", f"--python_out={stubs}",
         f"--grpc_python_out={stubs}", "keyroute/router/v1/router.proto"])
    service = cluster.get("Service", "keyroute-router")
    namespace = service["metadata"]["namespace"]
    port = next(p["port"] for p in service["spec"]["ports"] if p.get("appProtocol") == "grpc")
    address = f"{service['metadata']['name']}.{namespace}.svc:{port}"
    # getaddrinfo reads /etc/hosts, this test's stand-in for cluster DNS.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KEYROUTE_TOKEN": token, "GRPC_DNS_RESOLVER": "native"}
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("platform_client.py")), str(stubs), address,
             str(out / "platform-smoke.crt"), str(out / "platform-smoke.key"), str(out / "ca.crt"),
             f"{UNNAMED}.{namespace}.svc:{port}"],
            env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        fail("the platform client did not finish within 60s")
    if done.returncode != 0:
        fail(f"the platform client failed: {done.stdout}{done.stderr}")
    print(f"smoke: {done.stdout.strip()}")


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


def stop(server: subprocess.Popen | None, sig: signal.Signals) -> None:
    if server is None:
        return
    server.send_signal(sig)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main() -> int:
    rendered, bin_dir = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
    cluster = Cluster(rendered)
    root = Path(tempfile.mkdtemp(prefix="keyroute-smoke-"))
    keyroute = str(bin_dir / "keyroute")
    certs, kek = root / "certs", root / "kek.json"
    run([keyroute, "certs", "dev", "--out", str(certs)])
    run([keyroute, "kek", "generate", "--out", str(kek)])

    vault_set = cluster.get("StatefulSet", "keyroute-vault")
    routers_set = cluster.get("Deployment", "keyroute-router")
    edge_set = cluster.get("Deployment", "keyroute-edge")
    vaults = ["vault", "vault-1"] if vault_set["spec"].get("replicas", 1) > 1 else ["vault"]
    secrets: dict[str, dict[str, str]] = {}
    database, pg_dir, redis = None, None, None
    hosts = root / "hosts"
    hosts.write_text("")
    write_hosts(hosts, ["router-0", "router-1"], vaults)
    if subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"]).returncode != 0:
        fail("cannot bind-mount /etc/hosts: run this under `unshare --mount` as root")

    def pod(name: str, workload: dict) -> Pod:
        return Pod(name, workload, cluster, bin_dir, root, volumes_for(workload, root, certs, kek, name, secrets), secrets)

    pods: dict[str, Pod] = {}
    try:
        if len(vaults) > 1:
            pg_dir = Path(tempfile.mkdtemp(prefix="keyroute-smoke-postgres-"))
            database = Database(pg_dir, root / "database-ca")
            secrets.update(database.secrets)
        redis_password = None
        if uses_redis(routers_set):
            (root / "redis").mkdir()
            redis, secrets["keyroute-ratelimit-redis"] = start_redis(root / "redis")
            redis_password = secrets["keyroute-ratelimit-redis"]["password"]
        pods = {name: pod(name, vault_set) for name in vaults}
        pods.update({name: pod(name, routers_set) for name in ("router-0", "router-1")})
        pods["edge"] = pod("edge", edge_set)
        return scenario(cluster, pods, vaults, bin_dir, keyroute, certs, root, hosts, redis_password, database)
    finally:
        for each in pods.values():
            each.kill()
        stop(redis, signal.SIGTERM)
        if database:
            database.stop()
        if pg_dir:
            shutil.rmtree(pg_dir, ignore_errors=True)
        subprocess.run(["umount", "/etc/hosts"], capture_output=True)
        if os.environ.get("KEYROUTE_SMOKE_KEEP"):
            print(f"smoke: kept {root} (logs, certificates, KEK)")
        else:
            shutil.rmtree(root, ignore_errors=True)


ROUTERS = ("router-0", "router-1")
# The principal's rate limit when Redis counts them: every call is then counted in Redis, and
# none is refused (the load stays far below it).
RPM = 10_000_000
# How long a killed vault pod's address stays in its Service after the process died.
STALE_ENDPOINT = 3.0


class Load:
    """Chat requests through the edge, `workers` at a time, until stopped: every answer's
    start (monotonic), duration and status, and the failures' bodies."""

    def __init__(self, edge: str, token: str, workers: int = 8) -> None:
        self.results: list[tuple[float, float, int]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "smoke"}]}

        def client() -> None:
            while not self._stop.is_set():
                started = time.monotonic()
                status, body = http("POST", f"{edge}/v1/chat/completions", chat, token)
                self.results.append((started, time.monotonic() - started, status))
                if status != 200:
                    self.errors.append(f"{status} {body[:300]!r}")

        self._workers = [threading.Thread(target=client) for _ in range(workers)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join()

    def since(self, moment: float) -> list[tuple[float, float, int]]:
        """The requests started at or after `moment`."""
        return [r for r in list(self.results) if r[0] >= moment]

    def check(self, what: str) -> None:
        if self.errors:
            fail(f"{what}: {len(self.errors)} of {len(self.results)} requests failed, first: {self.errors[0]}")


def rate_limit_counts(ip: str) -> dict[str, float]:
    """A router's rate limiter, from its metrics: decisions in Redis and alone, Redis's errors,
    refusals, and whether it counts in Redis now."""
    text = scrape(ip)
    names = {"redis": "keyroute_router_rate_limit_redis_decisions_total",
             "fallback": "keyroute_router_rate_limit_fallback_decisions_total",
             "local": "keyroute_router_rate_limit_local_decisions_total",
             "errors": "keyroute_router_rate_limit_redis_errors_total",
             "refusals": "keyroute_router_rate_limit_refusals_total",
             "up": "keyroute_router_rate_limit_redis_up"}
    return {key: sample(text, name) for key, name in names.items()}


def recorded_requests(admin: list[str], owner: str) -> int:
    """This month's requests the vault recorded for `owner`."""
    return int(json.loads(run(admin + ["billing", "usage", owner]))["total"]["requests"])


def usage_settled(pods: dict[str, Pod], admin: list[str], owner: str) -> int:
    """The requests recorded for `owner` once they are all the routers answered (the platform
    client's), so that the load's are counted from there."""
    deadline = time.monotonic() + 20
    while (recorded := recorded_requests(admin, owner)) != (answered := sum(served(pods[r].ip) for r in ROUTERS)):
        if time.monotonic() > deadline:
            fail(f"the routers answered {answered} requests but the vault recorded {recorded}")
        time.sleep(0.2)
    return recorded


def vault_calls(ip: str) -> dict[str, float]:
    """A router's calls to the vault (all, answered, revocation watches answered) and its
    requests (all, served), from one scrape."""
    text = scrape(ip)
    return {"calls": sample(text, "keyroute_router_vault_calls_total"),
            "ok": sample(text, "keyroute_router_vault_calls_total", 'code="0"'),
            "watches": sample(text, "keyroute_router_vault_calls_total", 'method="WatchRevocations",code="0"'),
            "requests": sample(text, "keyroute_router_requests_total"),
            "served": sample(text, "keyroute_router_requests_total", 'outcome="ok"')}


def kill_a_vault(pods: dict[str, Pod], vaults: list[str], hosts: Path, load: Load, admins: dict[str, list[str]],
                 user: str, edge: str, token: str) -> str:
    """kill -9 of the vault replica the routers use, under load; returns the survivor."""
    # The victim: the replica at the other end of the routers' vault connections (each router
    # has two, its calls' and its revocation watch's, to the first address of keyroute-vault
    # that accepted them), which their usage reports and watches reach.
    text = {v: scrape(pods[v].ip, 9465) for v in vaults}
    reports = {v: sample(text[v], "keyroute_vault_calls_total", 'method="RecordUsage"') for v in vaults}
    watches = {v: sample(text[v], "keyroute_vault_calls_total", 'method="WatchRevocations",code="0"') for v in vaults}
    victim = max(vaults, key=lambda v: reports[v])
    survivor = next(v for v in vaults if v != victim)
    if reports[survivor] or watches[victim] != len(ROUTERS):
        fail(f"the routers should all be connected to one vault: usage reports {reports}, watches {watches}")
    before = {r: vault_calls(pods[r].ip) for r in ROUTERS}
    # The worst order Kubernetes allows for a crash (OOM kill, kill -9, a panic): the process
    # dies unannounced (no SIGTERM, no NOT_SERVING, no preStop; its connections reset) while
    # the Service still lists its address, first here: the endpoint goes only after the
    # kubelet has seen the container exit and reported the pod unready, and EndpointSlices,
    # DNS and kube-proxy have followed. Until then a new connection may be sent to the dead
    # address, and is refused (the pod's network namespace outlives its container). The
    # routers' connection breaks under calls in flight (the revocation watch, a balance, a
    # usage batch); they reconnect through the name, whose first address now refuses (their
    # connector tries the next: crates/tls, TcpStream::connect over every resolved address),
    # and the resubscribed watch empties their token and lease caches, so the next calls need
    # the vault again, through the survivor. Only then does the address leave the hosts file.
    # (Kubernetes would restart the container; here it stays dead. A lost node, where connects
    # time out instead of being refused, is not played.)
    killed_at = time.monotonic()
    pods[victim].kill()
    write_hosts(hosts, list(ROUTERS), [victim, survivor])
    time.sleep(STALE_ENDPOINT / 2)
    # The edge's management API needs the vault too, through the same Service name.
    status, body = http("GET", f"{edge}/api/v1/keys", token=token)
    keys_by_edge = json.loads(body).get("data", []) if status == 200 else None
    if keys_by_edge is None or len(keys_by_edge) != 1:
        fail(f"the edge's management API, {victim} dead but listed: {status} {body[:300]!r}")
    time.sleep(STALE_ENDPOINT / 2)
    stale = {r: vault_calls(pods[r].ip) for r in ROUTERS}
    write_hosts(hosts, list(ROUTERS), [survivor])
    removed_at = time.monotonic()
    time.sleep(3)
    for name in (survivor, *ROUTERS, "edge"):
        pods[name].check_alive()
    load.check(f"after {victim} was killed")
    after = {r: vault_calls(pods[r].ip) for r in ROUTERS}
    requests = load.since(killed_at)
    listed = sum(1 for r in requests if r[0] < removed_at)
    diff = {r: {k: after[r][k] - before[r][k] for k in before[r]} for r in ROUTERS}
    for r in ROUTERS:
        # Every request a router took was served: none refused for want of the vault (one the
        # edge then retried on the other router would not show in the load's failures).
        if diff[r]["requests"] != diff[r]["served"] or diff[r]["served"] < 20:
            fail(f"{r} around the kill: {diff[r]['served']:.0f} of {diff[r]['requests']:.0f} requests served")
        # While the dead address was still listed first, the router reached the vault again
        # (the watch resubscribed, tokens and keys fetched again), through the survivor.
        if stale[r]["watches"] <= before[r]["watches"] or stale[r]["ok"] <= before[r]["ok"]:
            fail(f"{r} did not reach the vault again while {victim}'s address was listed: {before[r]} then {stale[r]}")
        if metric(pods[r].ip, "keyroute_router_vault_up") != 1:
            fail(f"{r} reports the vault unreachable after the kill")
    status, body = http("GET", f"{edge}/readyz", timeout=2)
    if status != 200 or json.loads(body).get("vault") != "serving":
        fail(f"the edge is not ready after the kill: {status} {body!r}")
    # Management through the survivor: the user and its key are there. (-o json prints a list
    # of one as that one object.)
    users = json.loads(run(admins[survivor] + ["users", "list"]))
    keys = json.loads(run(admins[survivor] + ["keys", "list", "--owner", user]))
    users, keys = (v if isinstance(v, list) else [v] for v in (users, keys))
    if user not in [u["id"] for u in users] or [k["owner_id"] for k in keys] != [user]:
        fail(f"{survivor} lists users {users} and keys {keys}")
    slowest = max(r[1] for r in requests)
    failed = {r: diff[r]["calls"] - diff[r]["ok"] for r in ROUTERS}
    print(f"smoke: killed {victim} ({pods[victim].ip}, kill -9; the routers' revocation watches and "
          f"{reports[victim]:.0f} usage batches had reached it, none {survivor}) under load; its address stayed "
          f"first in the keyroute-vault Service for {removed_at - killed_at:.1f}s: {listed} requests meanwhile and {len(requests) - listed} in the 3s "
          f"after, none failed (slowest {slowest * 1000:.0f}ms)")
    print(f"smoke: router-0 and router-1 served {diff['router-0']['served']:.0f} and {diff['router-1']['served']:.0f} "
          f"of them and refused none; their vault calls that failed (in flight at the kill): {failed['router-0']:.0f} "
          f"and {failed['router-1']:.0f}; then {diff['router-0']['ok']:.0f} and {diff['router-1']['ok']:.0f} answered "
          f"by {survivor} (the revocation watch resubscribed while {victim} was still listed); the edge's "
          f"management API and readiness reach {survivor}; {survivor} manages: users list, keys list")
    return survivor


def scenario(cluster: Cluster, pods: dict[str, Pod], vaults: list[str], bin_dir: Path, keyroute: str, certs: Path,
             root: Path, hosts: Path, redis_password: str | None, database: Database | None) -> int:
    mock = subprocess.Popen([str(bin_dir / "keyroute-mock"), "--listen", MOCK_ADDR, "--key", f"openai={MOCK_KEY}"],
                            stdout=(root / "mock.log").open("wb"), stderr=subprocess.STDOUT)
    load = None
    try:
        if database:
            # verify-full checks the name: the vault's own command and environment, the URL
            # naming the database by its address (which its certificate does not carry), stop.
            refused = impostor_refused(pods[vaults[0]])
        for name in vaults:
            pods[name].start()
        # The vault pods listen before the routers start, as when the routers roll out onto a
        # running vault: each router's connections (its calls', its revocation watch's) then
        # go to the first address of keyroute-vault, all to the same replica.
        deadline = time.monotonic() + 60
        while not all(listening(pods[v].ip, 7443) for v in vaults):
            for name in vaults:
                pods[name].check_alive()
            if time.monotonic() > deadline:
                fail(f"the vault pods {vaults} never listened")
            time.sleep(0.2)
        for name in ROUTERS:
            pods[name].start({"KEYROUTE_BASE_URLS": f"openai=http://{MOCK_ADDR}/openai/v1"})
        pods["edge"].start()
        edge = f"http://{pods['edge'].ip}:8080"
        deadline = time.monotonic() + 60
        while True:
            for pod in pods.values():
                pod.check_alive()
            status, body = http("GET", f"{edge}/readyz", timeout=2)
            if status == 200 and json.loads(body)["routers"] == {"serving": 2, "known": 2}:
                break
            if time.monotonic() > deadline:
                fail(f"the edge never became ready with both routers: {status} {body!r}")
            time.sleep(0.2)
        print(f"smoke: {len(vaults)} vault{'s on PostgreSQL' if len(vaults) > 1 else ''}, 2 routers"
              f"{' on Redis' if redis_password else ''} and the edge are up from the rendered manifests")
        if database:
            tls = database_tls(database, pods, vaults)
            versions = sorted({f"{version} {cipher}" for held in tls.values() for version, cipher in held})
            print(f"smoke: the vaults reach PostgreSQL over TLS (sslmode=verify-full, the test's CA as "
                  f"keyroute-vault-db-ca, {PG_NAME} the name its certificate carries): "
                  f"{' and '.join(f'{v} holds {len(held)} connections' for v, held in tls.items())}, every one "
                  f"ssl in pg_stat_ssl ({', '.join(versions)})")
            print(f"smoke: PostgreSQL (hostssl only) refuses a plaintext login: {database.plaintext_refusal()}; "
                  f"a vault given its address ({PG_ADDR[0]}) instead of its name refuses the certificate: "
                  f"{refused}")

        # With two vaults, the user is made through one and its token and key through the other.
        admins = {v: [keyroute, "admin", "--vault", f"{pods[v].ip}:7443", "--certs-dir", str(certs), "-o", "json"]
                  for v in vaults}
        first, last = admins[vaults[0]], admins[vaults[-1]]
        user = json.loads(run(first + ["users", "create", "--name", "smoke"]))["id"]
        token = json.loads(run(last + ["tokens", "issue", "--principal", user]))["token"]
        run(last + ["keys", "add", "--owner", user, "--provider", "openai", "--secret-file", "-"], MOCK_KEY)
        if redis_password:
            run(first + ["limits", "set", "--scope", "principal", "--target", user, "--rpm", str(RPM)])
        platform_client(cluster, keyroute, certs, root, token)
        recorded_before = usage_settled(pods, last, user)

        load = Load(edge, token)
        time.sleep(2)
        before = {name: served(pods[name].ip) for name in ROUTERS}
        if min(before.values()) == 0:
            fail(f"both routers should serve under load: {before}")
        limits_before = {r: rate_limit_counts(pods[r].ip) for r in ROUTERS} if redis_password else {}
        live_vaults = list(vaults)
        if len(vaults) > 1:
            survivor = kill_a_vault(pods, vaults, hosts, load, admins, user, edge, token)
            live_vaults = [survivor]
        if redis_password:
            # Shared counting: both routers decided in Redis (the principal is limited, so every
            # call is counted there), nothing was refused, and both count in Redis still.
            limits = {r: rate_limit_counts(pods[r].ip) for r in ROUTERS}
            keys = int(redis_call(redis_password, "DBSIZE").lstrip(b":"))
            for r in ROUTERS:
                if limits[r]["redis"] <= limits_before[r]["redis"] or limits[r]["up"] != 1 or limits[r]["refusals"]:
                    fail(f"{r} should count every call in Redis, refusing none: {limits_before[r]} then {limits[r]}")
            if keys == 0:
                fail("Redis holds no rate-limit counter")
            print(f"smoke: rate limits counted in one Redis: router-0 decided {limits['router-0']['redis']:.0f} "
                  f"calls there and router-1 {limits['router-1']['redis']:.0f} (alone: "
                  f"{limits['router-0']['fallback']:.0f} and {limits['router-1']['fallback']:.0f}; Redis errors: "
                  f"{limits['router-0']['errors']:.0f} and {limits['router-1']['errors']:.0f}), none refused, "
                  f"keyroute_router_rate_limit_redis_up 1 on both, {keys} keys in Redis")

        # Delete router-0 as Kubernetes does, in the worst order: its endpoint leaves the
        # headless Service and SIGTERM comes at once, with no preStop pause, before the edge
        # has resolved the name again. Calls already on their way to it must not be lost.
        router_1_before = served(pods["router-1"].ip)
        write_hosts(hosts, ["router-1"], live_vaults)
        took = pods["router-0"].delete()
        after_delete = len(load.results)
        time.sleep(3)
        load.stop()
        for pod in (*live_vaults, "router-1", "edge"):
            pods[pod].check_alive()
        later = served(pods["router-1"].ip)
        load.check("the load")
        if later <= router_1_before or len(load.results) <= after_delete:
            fail(f"router-1 should carry the load after router-0 left: {router_1_before} then {later}")
        print(f"smoke: before any deletion router-0 served {before['router-0']} and router-1 {before['router-1']}; "
              f"router-0 stopped in {took:.1f}s after SIGTERM; router-1 then served {later - router_1_before} more")

        # Every answered request is recorded once, across the kill and the deletion (router-0
        # sent its last records when it stopped; router-1's last batch may still be on its way).
        answered = sum(1 for r in load.results if r[2] == 200)
        deadline = time.monotonic() + 20
        while (recorded := recorded_requests(admins[live_vaults[0]], user) - recorded_before) < answered:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if recorded != answered:
            fail(f"{answered} requests were answered but the vault recorded {recorded}")
        print(f"smoke: {len(load.results)} requests, none failed; the vault recorded each of them once")
        if database:
            tls = database_tls(database, pods, live_vaults)
            print(f"smoke: at the end {' and '.join(f'{v} holds {len(held)}' for v, held in tls.items())} "
                  f"connections to PostgreSQL, every one TLS")
        print("smoke: ok")
        return 0
    finally:
        if load:
            load.stop()
        mock.kill()
        mock.wait()


if __name__ == "__main__":
    sys.exit(main())
