"""What a cluster would give the rendered manifests, stood in for on this machine (smoke.py's
docstring says how): the rendered objects by kind and name; each pod as a process with the
container's command, args and environment, on a loopback address of its own; its volumes as
folders (Secrets filled from the test's stand-ins, its certificates and KEK); Service names
as cluster DNS would answer them, through the hosts file bind-mounted over /etc/hosts.

Every address the test hands out is here, so that none collides: the pods', the database's and
Redis's (with the names their URLs give), the provider mock's (with the key it takes); and the
router pods' names.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import yaml

from harness import fail

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
# Resolves to a router too, but no certificate names it: a platform client must refuse it.
UNNAMED = "keyroute-unnamed"
# The router Deployment's two pods.
ROUTERS = ("router-0", "router-1")


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
