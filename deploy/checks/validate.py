"""Validates rendered keyroute manifests.

Every object against the Kubernetes schemas (kubernetes-validate, strict: unknown fields are
errors), cert-manager objects against cert-manager's own CRD schemas (through the npm package
@kubernetes-models/cert-manager, by validate-cert-manager.mjs), and the rules deploy/ promises
for every pod: non-root, read-only root filesystem, no privilege escalation, every capability
dropped, RuntimeDefault seccomp, requests and limits, Prometheus scrape annotations. Also
that no secret (KEK, provider key, gateway token, private key) appears anywhere; that every
server certificate names each Service in front of the pods that serve it (short, namespaced,
.svc and .svc.cluster.local), so stock gRPC clients accept it; and that the platform
onboarding examples (deploy/k8s/examples, not rendered by any overlay) give out only
platform identities, from the CA the overlays use, in namespaces the routers admit. In a
rendering, every namespaced object has its namespace (an overlay's own resources do not
inherit base's), and a vault of more than one replica runs on PostgreSQL as the postgres
overlay does: no volume, the URL and password from a Secret, a PodDisruptionBudget, one replica
per node, and TLS to PostgreSQL: the CA (KEYROUTE_VAULT_DB_CA_FILE) a file in a mounted Secret or
ConfigMap, and every documented URL asking for `sslmode=verify-full` (a CA without it is
refused); and no PostgreSQL URL anywhere carries a password. Routers of more than one replica
that count rate limits in Redis (KEYROUTE_RATE_LIMIT_REDIS) get its URL without a password,
the password from a Secret (a mounted file or a secretKeyRef, never an env value), and a
NetworkPolicy letting them out to Redis's port; no Redis URL anywhere carries a password. A
Secret these rules name must be made by a Certificate of the rendering or be created by a
documented command (`kubectl create secret generic NAME`, with each key used, in a README
under deploy/): no Secret is ever rendered.

usage: validate.py KUBERNETES_VERSION NODE_MODULES_DIR RENDERED.yaml... [--examples EXAMPLE.yaml...]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
SECRET_PATTERNS = [
    (re.compile(r"kr_[A-Za-z0-9_-]{20,}"), "a gateway token"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "a provider key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r'"keys"\s*:\s*\['), "a KEK keyring"),
    (re.compile(r"postgres(?:ql)?://[^/@\s:]+:[^/@\s]*@"), "a PostgreSQL URL with a password"),
    (re.compile(r"rediss?://[^/@\s:]*:[^/@\s]*@"), "a Redis URL with a password"),
]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterIssuer", "CustomResourceDefinition",
                  "CertificateRequestPolicy", "Bundle", "PriorityClass", "StorageClass"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
PLATFORM_PREFIX = "spiffe://keyroute/platform/"
# Where Secrets that are never rendered are documented: every README under deploy/.
DOCS = sorted(HERE.parent.rglob("README.md"))
REDIS_PORT = 6379


def name_of(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def pod_template(obj: dict) -> dict:
    spec = obj["spec"]
    return spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec["template"]


def cluster_names(service: dict) -> set[str]:
    """The names cluster DNS answers for a Service."""
    name = service["metadata"]["name"]
    namespace = service["metadata"].get("namespace", "default")
    return {name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"}


def certificate_rules(objects: list[dict]) -> list[str]:
    """Server certificates against the Services in front of the pods that mount them.

    A Certificate with the `server auth` usage must be mounted by some workload, some Service
    must select that workload's pods, and its dnsNames must hold every cluster name of every
    such Service (kustomize does not rewrite dnsNames when an overlay changes the namespace:
    this is what notices). A certificate behind a gRPC Service (keyroute's gRPC is always
    mTLS) must be a server certificate.
    """
    problems = []
    services = [o for o in objects if o.get("kind") == "Service"]
    workloads = [o for o in objects if o.get("kind") in WORKLOADS]
    for cert in (o for o in objects if o.get("kind") == "Certificate"):
        spec = cert.get("spec", {})
        namespace = cert["metadata"].get("namespace")
        pods = [
            pod_template(w).get("metadata", {}).get("labels", {})
            for w in workloads
            if w["metadata"].get("namespace") == namespace
            and any(v.get("secret", {}).get("secretName") == spec.get("secretName")
                    for v in pod_template(w)["spec"].get("volumes", []))
        ]
        fronting = [
            s for s in services
            if s["metadata"].get("namespace") == namespace and s["spec"].get("selector")
            and any(all(labels.get(k) == v for k, v in s["spec"]["selector"].items()) for labels in pods)
        ]
        serves = "server auth" in spec.get("usages", [])
        grpc = [s["metadata"]["name"] for s in fronting
                if any(p.get("appProtocol") == "grpc" for p in s["spec"].get("ports", []))]
        if grpc and not serves:
            problems.append(f"{name_of(cert)}: serves gRPC behind {', '.join(grpc)} without the `server auth` usage")
        if not serves:
            continue
        if not fronting:
            problems.append(f"{name_of(cert)}: a server certificate no Service serves (mounted by no selected pod)")
            continue
        wanted = set().union(*(cluster_names(s) for s in fronting))
        missing = sorted(wanted - set(spec.get("dnsNames", [])))
        if missing:
            problems.append(f"{name_of(cert)}: dnsNames lack {', '.join(missing)}")
    return problems


def example_rules(examples: list[dict], rendered: list[dict]) -> list[str]:
    """The platform onboarding examples against what the overlays render.

    Each Certificate outside keyroute's namespace is a platform's: one URI SAN,
    spiffe://keyroute/platform/<name>, client authentication only, no DNS names, issued by a
    ClusterIssuer of the examples that signs with the CA Secret the overlays' CA Issuer uses,
    in a Namespace of the examples that keyroute's router NetworkPolicy admits.
    """
    problems = []
    keyroute = {o["metadata"].get("namespace") for o in rendered if o.get("kind") == "Service"}
    ca_secrets = {o["spec"]["ca"]["secretName"] for o in rendered
                  if o.get("kind") == "Issuer" and "ca" in o.get("spec", {})}
    grpc_ports = {port["port"] for o in rendered
                  if o.get("kind") == "Service" and o["metadata"]["name"] == "keyroute-router"
                  for port in o["spec"].get("ports", []) if port.get("appProtocol") == "grpc"}
    admitted = [
        peer["namespaceSelector"].get("matchLabels", {})
        for o in rendered
        if o.get("kind") == "NetworkPolicy" and o["metadata"]["name"] == "keyroute-router"
        for rule in o["spec"].get("ingress", [])
        if grpc_ports & {port.get("port") for port in rule.get("ports", [])}
        for peer in rule.get("from", [])
        if "namespaceSelector" in peer and "podSelector" not in peer
    ]
    issuers = {o["metadata"]["name"]: o for o in examples if o.get("kind") == "ClusterIssuer"}
    namespaces = {o["metadata"]["name"]: o for o in examples if o.get("kind") == "Namespace"}
    for name, issuer in issuers.items():
        secret = issuer.get("spec", {}).get("ca", {}).get("secretName")
        if secret not in ca_secrets:
            problems.append(f"ClusterIssuer/{name}: signs with {secret!r}, not the overlays' CA ({sorted(ca_secrets)})")
    certs = [o for o in examples if o.get("kind") == "Certificate" and o["metadata"].get("namespace") not in keyroute]
    if not certs:
        problems.append("no platform Certificate among the examples")
    for cert in certs:
        spec, label = cert["spec"], name_of(cert)
        uris = spec.get("uris", [])
        if len(uris) != 1 or not uris[0].startswith(PLATFORM_PREFIX) or "/" in uris[0][len(PLATFORM_PREFIX):]:
            problems.append(f"{label}: needs exactly one URI, {PLATFORM_PREFIX}<name>, not {uris}")
        if spec.get("dnsNames") or sorted(spec.get("usages", [])) != ["client auth", "digital signature"]:
            problems.append(f"{label}: a platform certificate is for client auth only, without dnsNames")
        ref = spec.get("issuerRef", {})
        if ref.get("kind") != "ClusterIssuer" or ref.get("name") not in issuers:
            problems.append(f"{label}: issuerRef {ref} is not a ClusterIssuer of the examples")
        namespace = namespaces.get(cert["metadata"].get("namespace"), {})
        labels = namespace.get("metadata", {}).get("labels", {})
        if not any(all(labels.get(k) == v for k, v in wanted.items()) for wanted in admitted):
            problems.append(f"{label}: its Namespace (in the examples) lacks the labels the router admits: {admitted}")
    return problems


def vault_rules(objects: list[dict]) -> list[str]:
    """A vault of several replicas: PostgreSQL (never SQLite on a volume), its URL and password
    from a Secret (the URL in KEYROUTE_VAULT_DB, the password as a mounted file), TLS to it
    (the CA in KEYROUTE_VAULT_DB_CA_FILE or --db-ca-file, a file of a mounted Secret or
    ConfigMap; every URL documented for the URL's Secret with `sslmode=verify-full`, which the
    CA requires),
    replicas on different nodes and a PodDisruptionBudget keeping one."""
    problems = []
    for vault in (o for o in objects if o.get("kind") in WORKLOADS and o["metadata"]["name"] == "keyroute-vault"):
        label, spec = name_of(vault), vault["spec"]
        if spec.get("replicas", 1) <= 1:
            continue
        pod = pod_template(vault)
        container = next(c for c in pod["spec"]["containers"] if c["name"] == "vault")
        args = container.get("command", []) + container.get("args", [])
        env = {e["name"]: e for e in container.get("env", [])}
        if spec.get("volumeClaimTemplates"):
            problems.append(f"{label}: {spec['replicas']} replicas with volumes: several replicas share PostgreSQL")
        if any(a.startswith("--db=") for a in args) or "valueFrom" not in env.get("KEYROUTE_VAULT_DB", {}):
            problems.append(f"{label}: the database URL must come from KEYROUTE_VAULT_DB valueFrom a Secret or ConfigMap")
        if "KEYROUTE_VAULT_DB_PASSWORD" in env and "valueFrom" not in env["KEYROUTE_VAULT_DB_PASSWORD"]:
            problems.append(f"{label}: KEYROUTE_VAULT_DB_PASSWORD as a literal value")
        password_file = [a.split("=", 1)[1] for a in args if a.startswith("--db-password-file=")]
        mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
        if "KEYROUTE_VAULT_DB_PASSWORD" not in env and not (
                password_file and any(password_file[0].startswith(m + "/") for m in mounts)):
            problems.append(f"{label}: no database password: --db-password-file in a mounted Secret")
        secrets: dict[str, set[str]] = {}
        for item in env.values():
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref and item["name"].startswith("KEYROUTE_VAULT_DB"):
                secrets.setdefault(ref["name"], set()).add(ref["key"])
        if password_file and (source := secret_file(password_file[0], container, pod)):
            secrets.setdefault(source[0], set()).add(source[1])
        # TLS to PostgreSQL: the CA a file the pod mounts from a Secret or ConfigMap (the vault
        # refuses a CA without sslmode=verify-full in the URL, and verify-full without a CA).
        ca_flag = [a.split("=", 1)[1] for a in args if a.startswith("--db-ca-file=")]
        ca_file = ca_flag[0] if ca_flag else env.get("KEYROUTE_VAULT_DB_CA_FILE", {}).get("value")
        config_maps: dict[str, set[str]] = {}
        if not ca_file:
            problems.append(f"{label}: no database CA: KEYROUTE_VAULT_DB_CA_FILE naming a file of a mounted "
                            "Secret or ConfigMap (TLS to PostgreSQL, sslmode=verify-full)")
        elif (ca_item := mounted_item(ca_file, container, pod)) is None:
            problems.append(f"{label}: the database CA {ca_file} is not an item of a mounted Secret or ConfigMap volume")
        else:
            kind, name, key = ca_item
            (secrets if kind == "Secret" else config_maps).setdefault(name, set()).add(key)
        for name, keys in sorted(secrets.items()):
            why = documented_secret(name, keys, objects)
            if why:
                problems.append(f"{label}: {why}")
        for name, keys in sorted(config_maps.items()):
            why = documented_config_map(name, keys, objects)
            if why:
                problems.append(f"{label}: {why}")
        url_ref = env.get("KEYROUTE_VAULT_DB", {}).get("valueFrom", {}).get("secretKeyRef")
        if ca_file and url_ref:
            name, key = url_ref["name"], url_ref["key"]
            urls = [url for text in documented("secret generic", name)
                    for url in re.findall(r"=" + re.escape(key) + r"""=['"]?(postgres(?:ql)?://[^'"\s]+)""", text)]
            # The vault refuses a CA without verify-full: every URL documented for this
            # rendering asks for it (a plaintext database drops the CA with its own patch).
            for url in urls:
                if not re.search(r"[?&]sslmode=verify-full(?:&|$)", url):
                    problems.append(f"{label}: a documented {name} {key} lacks ?sslmode=verify-full, "
                                    f"refused at start with a database CA: {url}")
            if not urls:
                problems.append(f"{label}: no documented `create secret generic {name}` gives a {key} "
                                "(postgres://...?sslmode=verify-full)")
        if not any(m == "/etc/keyroute/kek" for m in mounts):
            problems.append(f"{label}: every replica needs the KEK keyring mounted")
        spread = pod["spec"].get("affinity", {}).get("podAntiAffinity", {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution", [])
        if not any(term.get("topologyKey") == "kubernetes.io/hostname" for term in spread):
            problems.append(f"{label}: replicas need required anti-affinity on kubernetes.io/hostname")
        labels = pod.get("metadata", {}).get("labels", {})
        budgets = [o for o in objects if o.get("kind") == "PodDisruptionBudget"
                   and o["metadata"].get("namespace") == vault["metadata"].get("namespace")
                   and all(labels.get(k) == v for k, v in o["spec"].get("selector", {}).get("matchLabels", {}).items())]
        if not any(b["spec"].get("minAvailable") == 1 for b in budgets):
            problems.append(f"{label}: no PodDisruptionBudget with minAvailable: 1 selects its pods")
    return problems


def documented_secret(name: str, keys: set[str], objects: list[dict]) -> str | None:
    """Why Secret `name` (with `keys`) is not accounted for, or None: a Certificate of the
    rendering writes it (tls.crt, tls.key, ca.crt), or a README under deploy/ creates it with
    `kubectl ... create secret generic NAME` giving every key in `keys` (`--from-...=KEY=`)."""
    if any(o.get("kind") == "Certificate" and o.get("spec", {}).get("secretName") == name for o in objects):
        return None
    if any(o.get("kind") == "Secret" and o["metadata"].get("name") == name for o in objects):
        return None  # rendered: refused on its own (Secrets are never rendered)
    commands = documented("secret generic", name)
    if not commands:
        return f"Secret {name} is neither rendered nor created by a documented command (a README under deploy/)"
    if not any(all(re.search(r"=" + re.escape(key) + r"=", text) for key in keys) for text in commands):
        return f"no documented `create secret generic {name}` gives every key used ({', '.join(sorted(keys))})"
    return None


def documented_config_map(name: str, keys: set[str], objects: list[dict]) -> str | None:
    """Why ConfigMap `name` (with `keys`) is not accounted for, or None: the rendering holds it
    with every key, or a README under deploy/ creates it (`kubectl ... create configmap NAME`)
    giving every key."""
    rendered = [o for o in objects if o.get("kind") == "ConfigMap" and o["metadata"].get("name") == name]
    if rendered:
        held = set(rendered[0].get("data", {})) | set(rendered[0].get("binaryData", {}))
        return None if keys <= held else f"ConfigMap {name} lacks {', '.join(sorted(keys - held))}"
    commands = documented("configmap", name)
    if not any(all(re.search(r"=" + re.escape(key) + r"=", text) for key in keys) for text in commands):
        return f"ConfigMap {name} is neither rendered nor created by a documented `create configmap {name}` with {', '.join(sorted(keys))}"
    return None


def documented(what: str, name: str) -> list[str]:
    """The arguments of every `create WHAT NAME` command in a README under deploy/, a command's
    continuation lines (ending in a backslash) included."""
    command = re.compile(r"create " + re.escape(what) + " " + re.escape(name) + r"(?=\s)((?:[^\n]*\\\n)*[^\n]*)")
    return [m.group(1) for doc in DOCS for m in command.finditer(doc.read_text())]


def secret_file(path: str, container: dict, pod: dict) -> tuple[str, str] | None:
    """The Secret and key behind a file in a mounted Secret volume, or None."""
    item = mounted_item(path, container, pod)
    return (item[1], item[2]) if item and item[0] == "Secret" else None


def mounted_item(path: str, container: dict, pod: dict) -> tuple[str, str, str] | None:
    """The kind (Secret or ConfigMap), name and key behind a file in a mounted Secret or
    ConfigMap volume, or None (another volume, no such item, or no mount)."""
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        volume = volumes.get(mount["name"], {})
        if not path.startswith(prefix) or mount.get("subPath"):
            continue
        if "secret" in volume:
            kind, name, source = "Secret", volume["secret"]["secretName"], volume["secret"]
        elif "configMap" in volume:
            kind, name, source = "ConfigMap", volume["configMap"]["name"], volume["configMap"]
        else:
            return None
        relative = path[len(prefix):]
        items = source.get("items")
        if items is None:
            return kind, name, relative
        key = next((i["key"] for i in items if i["path"] == relative), None)
        return (kind, name, key) if key else None
    return None


def selects(selector: dict, labels: dict) -> bool:
    """A label selector's matchLabels against a pod's labels (matchExpressions are not used here)."""
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def rate_limit_redis_rules(objects: list[dict]) -> list[str]:
    """Routers of several replicas counting rate limits in Redis: the URL (KEYROUTE_RATE_LIMIT_REDIS
    or --rate-limit-redis) without a password, the password from a Secret (a file in a mounted
    Secret volume, or a secretKeyRef), never a literal; each Secret made by the rendering or
    documented; and a NetworkPolicy selecting the routers that lets them out to Redis's port."""
    problems = []
    for router in (o for o in objects if o.get("kind") in WORKLOADS and o["metadata"]["name"] == "keyroute-router"):
        label, spec = name_of(router), router["spec"]
        pod = pod_template(router)
        container = next(c for c in pod["spec"]["containers"] if c["name"] == "router")
        args = container.get("command", []) + container.get("args", [])
        env = {e["name"]: e for e in container.get("env", [])}
        flag = [a.split("=", 1)[1] for a in args if a.startswith("--rate-limit-redis=")]
        if spec.get("replicas", 1) <= 1 or not ("KEYROUTE_RATE_LIMIT_REDIS" in env or flag):
            continue
        secrets: dict[str, set[str]] = {}

        def from_secret(item: dict, what: str) -> None:
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secrets.setdefault(ref["name"], set()).add(ref["key"])
            elif "valueFrom" not in item:
                problems.append(f"{label}: {what} as a literal value")

        url = env.get("KEYROUTE_RATE_LIMIT_REDIS", {})
        literal = flag[0] if flag else url.get("value")
        if literal is not None and re.match(r"rediss?://[^/@]*:[^/@]*@", literal):
            problems.append(f"{label}: the Redis URL carries a password (the router refuses it)")
        if "valueFrom" in url:
            ref = url["valueFrom"].get("secretKeyRef")
            if ref:
                secrets.setdefault(ref["name"], set()).add(ref["key"])
        if "KEYROUTE_RATE_LIMIT_REDIS_PASSWORD" in env:
            from_secret(env["KEYROUTE_RATE_LIMIT_REDIS_PASSWORD"], "KEYROUTE_RATE_LIMIT_REDIS_PASSWORD")
        files = [a.split("=", 1)[1] for a in args if a.startswith("--rate-limit-redis-password-file=")]
        if "value" in env.get("KEYROUTE_RATE_LIMIT_REDIS_PASSWORD_FILE", {}):
            files.append(env["KEYROUTE_RATE_LIMIT_REDIS_PASSWORD_FILE"]["value"])
        for file in files:
            source = secret_file(file, container, pod)
            if source is None:
                problems.append(f"{label}: the Redis password file {file} is not a key of a mounted Secret volume")
            else:
                secrets.setdefault(source[0], set()).add(source[1])
        if "KEYROUTE_RATE_LIMIT_REDIS_PASSWORD" not in env and not files:
            problems.append(f"{label}: no Redis password: KEYROUTE_RATE_LIMIT_REDIS_PASSWORD_FILE in a mounted Secret")
        for name, keys in sorted(secrets.items()):
            why = documented_secret(name, keys, objects)
            if why:
                problems.append(f"{label}: {why}")
        port = REDIS_PORT
        if literal and (found := re.match(r"rediss?://(?:[^@/]*@)?[^/:]+:(\d+)", literal)):
            port = int(found.group(1))
        labels = pod.get("metadata", {}).get("labels", {})
        namespace = router["metadata"].get("namespace")
        egress = [
            rule for o in objects
            if o.get("kind") == "NetworkPolicy" and o["metadata"].get("namespace") == namespace
            and selects(o["spec"].get("podSelector", {}), labels) and "Egress" in o["spec"].get("policyTypes", [])
            for rule in o["spec"].get("egress", [])
        ]
        if not any(not rule.get("ports") or any(p.get("port") == port and p.get("protocol", "TCP") == "TCP"
                                                for p in rule["ports"]) for rule in egress):
            problems.append(f"{label}: no NetworkPolicy lets the routers out to Redis on TCP {port}")
    return problems


def pod_rules(obj: dict) -> list[str]:
    """What a workload's pod template breaks of the rules, as messages."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    template = obj["spec"]["template"]
    pod = template["spec"]
    problems = []
    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod securityContext.runAsNonRoot must be true")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: pod seccompProfile must be RuntimeDefault")
    annotations = template.get("metadata", {}).get("annotations", {})
    if "prometheus.io/scrape" not in annotations:
        problems.append(f"{name}: prometheus.io/scrape annotation missing")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{name}: automountServiceAccountToken must be false")
    for container in pod.get("initContainers", []) + pod["containers"]:
        where = f"{name} container {container['name']}"
        security = container.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem must be true")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities.drop must be [ALL]")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.append(f"{where}: resources.{kind}.{resource} missing")
        for env in container.get("env", []):
            if "value" in env and env["name"].endswith(("KEY", "TOKEN", "SECRET", "KEK", "PASSWORD")):
                problems.append(f"{where}: {env['name']} looks like a secret in an env value")
    return problems


def main() -> int:
    version, node_modules, *files = sys.argv[1:]
    examples_at = files.index("--examples") if "--examples" in files else len(files)
    rendered_files, example_files = files[:examples_at], files[examples_at + 1:]
    problems: list[str] = []
    cert_manager: list[dict] = []
    rendered_objects: list[dict] = []
    example_objects: list[dict] = []
    count = 0
    for file in rendered_files + example_files:
        text = Path(file).read_text()
        for pattern, what in SECRET_PATTERNS:
            if pattern.search(text):
                problems.append(f"{file}: contains what looks like {what}")
        objects = [obj for obj in yaml.safe_load_all(text) if obj]
        if file in rendered_files:
            rendered_objects.extend(objects)
            problems.extend(f"{file}: {p}" for p in certificate_rules(objects))
            problems.extend(f"{file}: {p}" for p in vault_rules(objects))
            problems.extend(f"{file}: {p}" for p in rate_limit_redis_rules(objects))
            problems.extend(f"{file}: {name_of(o)}: no namespace" for o in objects
                            if o.get("kind") not in CLUSTER_SCOPED and not o["metadata"].get("namespace"))
        else:
            example_objects.extend(objects)
        for obj in objects:
            count += 1
            label = f"{file}: {name_of(obj)}"
            if obj.get("kind") == "Secret":
                problems.append(f"{label}: Secrets are created by the documented commands, never rendered")
            if obj.get("apiVersion", "").split("/")[0].endswith("cert-manager.io"):
                cert_manager.append(obj)
                continue
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError as error:
                problems.append(f"{label}: no schema: {error}")
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{label}: {error.message} at {'/'.join(map(str, error.path))}")
            if obj.get("kind") in WORKLOADS:
                problems.extend(f"{file}: {p}" for p in pod_rules(obj))
    if example_files:
        problems.extend(f"examples: {p}" for p in example_rules(example_objects, rendered_objects))
    checked = subprocess.run(
        ["node", str(HERE / "validate-cert-manager.mjs"), node_modules],
        input=json.dumps(cert_manager),
        capture_output=True,
        text=True,
    )
    if checked.returncode != 0:
        problems.append(f"cert-manager objects: {checked.stdout}{checked.stderr}".strip())
    for problem in problems:
        print(f"manifests: {problem}")
    print(
        f"manifests: {count} objects in {len(rendered_files)} renderings and {len(example_files)} "
        f"example files checked against Kubernetes {version} and cert-manager schemas: "
        f"{'ok' if not problems else f'{len(problems)} problems'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
