"""Validates rendered keyroute manifests.

Every object against the Kubernetes schemas (kubernetes-validate, strict: unknown fields are
errors), cert-manager objects against cert-manager's own CRD schemas (through the npm package
@kubernetes-models/cert-manager, by validate-cert-manager.mjs), and the rules deploy/ promises
for every pod: non-root, read-only root filesystem, no privilege escalation, every capability
dropped, RuntimeDefault seccomp, requests and limits, Prometheus scrape annotations. Also
that no secret (KEK, provider key, gateway token, private key) appears anywhere.

usage: validate.py KUBERNETES_VERSION NODE_MODULES_DIR RENDERED.yaml...
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
]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


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
            if "value" in env and env["name"].endswith(("KEY", "TOKEN", "SECRET", "KEK")):
                problems.append(f"{where}: {env['name']} looks like a secret in an env value")
    return problems


def main() -> int:
    version, node_modules, *files = sys.argv[1:]
    problems: list[str] = []
    cert_manager: list[dict] = []
    count = 0
    for file in files:
        text = Path(file).read_text()
        for pattern, what in SECRET_PATTERNS:
            if pattern.search(text):
                problems.append(f"{file}: contains what looks like {what}")
        for obj in yaml.safe_load_all(text):
            if not obj:
                continue
            count += 1
            label = f"{file}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            if obj.get("kind") == "Secret":
                problems.append(f"{label}: Secrets are created by the documented commands, never rendered")
            if obj.get("apiVersion", "").startswith("cert-manager.io/"):
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
        f"manifests: {count} objects in {len(files)} renderings checked against Kubernetes "
        f"{version} and cert-manager schemas: {'ok' if not problems else f'{len(problems)} problems'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
