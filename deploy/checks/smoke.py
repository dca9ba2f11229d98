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
    this under `unshare --mount`): the headless Service names both router pods;
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
PostgreSQL started here (initdb into a temporary folder, SCRAM password over TCP, as the
`postgres` account when root): the Secret `keyroute-vault-db` is stood in for with its URL and
password, the `keyroute-vault` Service names both vault pods, and the admin calls alternate
between them (the user made through one, its token and key through the other), so the chat
requests only succeed if both share the database.

usage: smoke.py RENDERED.yaml BIN_DIR
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
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


def served(ip: str) -> int:
    """Successful requests a router counted, from its metrics port."""
    status, body = http("GET", f"http://{ip}:9464/metrics")
    if status != 200:
        fail(f"router metrics at {ip}: {status} {body[:200]!r}")
    total = 0
    for line in body.decode().splitlines():
        if line.startswith("keyroute_router_requests_total{") and 'outcome="ok"' in line:
            total += int(line.rsplit(" ", 1)[1])
    return total


def dns(service: str, namespace: str = "keyroute") -> str:
    """A Service's names as cluster DNS answers them: short, namespaced, .svc, .svc.cluster.local."""
    return f"{service} {service}.{namespace} {service}.{namespace}.svc {service}.{namespace}.svc.cluster.local"


def write_hosts(path: Path, routers: list[str], vaults: list[str]) -> None:
    """Service names as cluster DNS would answer them (written in place: it is bind-mounted)."""
    lines = ["127.0.0.1 localhost"] + [f"{POD_IPS[v]} {dns('keyroute-vault')}" for v in vaults]
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


def start_postgres(pg: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """A PostgreSQL for the vault replicas in `pg` (apart from the test's folder, which stays
    private to root: certificates and KEK), and the stand-in for Secret keyroute-vault-db."""
    bin_dir = os.environ.get("KEYROUTE_PG_BIN") or next(
        (str(d) for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) if (d / "postgres").exists()),
        str(Path(shutil.which("postgres") or "postgres").parent))
    user = "postgres" if os.geteuid() == 0 else None
    password = os.urandom(12).hex()
    (pg / "password").write_text(password)
    if user:
        shutil.chown(pg, user)
        shutil.chown(pg / "password", user)
    done = subprocess.run([f"{bin_dir}/initdb", "-D", str(pg / "data"), "-U", "keyroute", "--auth=scram-sha-256",
                           f"--pwfile={pg / 'password'}", "--encoding=UTF8", "--locale=C", "--no-sync"],
                          user=user, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"initdb: {done.stdout}{done.stderr}")
    server = subprocess.Popen([f"{bin_dir}/postgres", "-D", str(pg / "data"), "-k", str(pg), "-c", "fsync=off",
                               "-c", f"listen_addresses={PG_ADDR[0]}", "-p", str(PG_ADDR[1])],
                              user=user, stdout=(pg / "log").open("wb"), stderr=subprocess.STDOUT)
    env = dict(os.environ, PGPASSWORD=password)
    deadline = time.monotonic() + 30
    while subprocess.run([f"{bin_dir}/createdb", "-h", PG_ADDR[0], "-p", str(PG_ADDR[1]), "-U", "keyroute", "keyroute"],
                         env=env, capture_output=True).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            fail(f"PostgreSQL did not start: {(pg / 'log').read_text()[-2000:]}")
        time.sleep(0.2)
    return server, {"url": f"postgres://keyroute@{PG_ADDR[0]}:{PG_ADDR[1]}/keyroute", "password": password}


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
    postgres, pg_dir = None, None
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
            postgres, secrets["keyroute-vault-db"] = start_postgres(pg_dir)
        pods = {name: pod(name, vault_set) for name in vaults}
        pods.update({name: pod(name, routers_set) for name in ("router-0", "router-1")})
        pods["edge"] = pod("edge", edge_set)
        return scenario(cluster, pods, vaults, bin_dir, keyroute, certs, root, hosts)
    finally:
        for each in pods.values():
            each.kill()
        if postgres:
            postgres.send_signal(signal.SIGQUIT)  # immediate shutdown, children included
            try:
                postgres.wait(timeout=10)
            except subprocess.TimeoutExpired:
                postgres.kill()
        if pg_dir:
            shutil.rmtree(pg_dir, ignore_errors=True)
        subprocess.run(["umount", "/etc/hosts"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def scenario(cluster: Cluster, pods: dict[str, Pod], vaults: list[str], bin_dir: Path, keyroute: str, certs: Path,
             root: Path, hosts: Path) -> int:
    mock = subprocess.Popen([str(bin_dir / "keyroute-mock"), "--listen", MOCK_ADDR, "--key", f"openai={MOCK_KEY}"],
                            stdout=(root / "mock.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        for name in vaults:
            pods[name].start()
        for name in ("router-0", "router-1"):
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
        print(f"smoke: {len(vaults)} vault{'s on PostgreSQL' if len(vaults) > 1 else ''}, 2 routers and the edge "
              "are up from the rendered manifests")

        # With two vaults, the user is made through one and its token and key through the other.
        admins = [[keyroute, "admin", "--vault", f"{pods[v].ip}:7443", "--certs-dir", str(certs), "-o", "json"]
                  for v in vaults]
        user = json.loads(run(admins[0] + ["users", "create", "--name", "smoke"]))["id"]
        token = json.loads(run(admins[-1] + ["tokens", "issue", "--principal", user]))["token"]
        run(admins[-1] + ["keys", "add", "--owner", user, "--provider", "openai", "--secret-file", "-"], MOCK_KEY)
        platform_client(cluster, keyroute, certs, root, token)
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "smoke"}]}

        results: list[int] = []
        errors: list[str] = []
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                status, body = http("POST", f"{edge}/v1/chat/completions", chat, token)
                results.append(status)
                if status != 200:
                    errors.append(f"{status} {body[:300]!r}")

        workers = [threading.Thread(target=client) for _ in range(8)]
        for worker in workers:
            worker.start()
        time.sleep(2)
        before = {name: served(pods[name].ip) for name in ("router-0", "router-1")}
        if min(before.values()) == 0:
            fail(f"both routers should serve under load: {before}")
        # Delete router-0 as Kubernetes does, in the worst order: its endpoint leaves the
        # headless Service and SIGTERM comes at once, with no preStop pause, before the edge
        # has resolved the name again. Calls already on their way to it must not be lost.
        write_hosts(hosts, ["router-1"], vaults)
        took = pods["router-0"].delete()
        after_delete = len(results)
        time.sleep(3)
        stop.set()
        for worker in workers:
            worker.join()
        for pod in (*vaults, "router-1", "edge"):
            pods[pod].check_alive()
        later = served(pods["router-1"].ip)
        if errors:
            fail(f"{len(errors)} of {len(results)} requests failed, first: {errors[0]}")
        if later <= before["router-1"] or len(results) <= after_delete:
            fail(f"router-1 should carry the load after router-0 left: {before} then {later}")
        print(f"smoke: {len(results)} requests, none failed; before the deletion router-0 served "
              f"{before['router-0']} and router-1 {before['router-1']}; router-0 stopped in {took:.1f}s "
              f"after SIGTERM; router-1 then served {later - before['router-1']} more")
        print("smoke: ok")
        return 0
    finally:
        mock.kill()
        mock.wait()


if __name__ == "__main__":
    sys.exit(main())
