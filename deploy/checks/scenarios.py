"""What the smoke test plays on the running pods and checks (smoke.py's docstring says why):
the platform client through the router's Service; then, under load through the edge, the
kill -9 of the vault replica the routers use (with two vaults), the rate limits shared in
Redis, the deletion of a router, and one usage record per answered request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cluster import MOCK_ADDR, MOCK_KEY, PG_ADDR, PG_NAME, ROUTERS, UNNAMED, Cluster, Pod, listening, write_hosts
from datastores import Database, database_tls, impostor_refused, redis_call
from harness import fail, run
from traffic import (Load, http, metric, rate_limit_counts, recorded_requests, sample, scrape, served, usage_settled,
                     vault_calls)

REPO = Path(__file__).resolve().parent.parent.parent

# The principal's rate limit when Redis counts them: every call is then counted in Redis, and
# none is refused (the load stays far below it).
RPM = 10_000_000
# How long a killed vault pod's address stays in its Service after the process died.
STALE_ENDPOINT = 3.0


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
    # Management through the survivor: the user and its key are there (lists are arrays).
    users = json.loads(run(admins[survivor] + ["users", "list"]))
    keys = json.loads(run(admins[survivor] + ["keys", "list", "--owner", user]))
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
