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

The parts are modules beside this file, one concept each: harness.py (a failure, the commands
run, a server stopped), cluster.py (the stand-ins for what a cluster provides: the rendered
objects, pods as processes, volumes, the hosts file for DNS, the addresses), datastores.py (the
TLS PostgreSQL with its certificates and the Redis the postgres overlay needs), traffic.py (the
load through the edge, the metrics, the usage records) and scenarios.py (what is played on the
running pods and checked). main() below starts it all in order and stops it.

Set KEYROUTE_SMOKE_KEEP=1 to keep the temporary folder (the processes' logs).

usage: smoke.py RENDERED.yaml BIN_DIR
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cluster import Cluster, Pod, volumes_for, write_hosts
from datastores import Database, start_redis, uses_redis
from harness import fail, run, stop
from scenarios import scenario


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


if __name__ == "__main__":
    sys.exit(main())
