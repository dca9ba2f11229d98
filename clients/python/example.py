"""What an internal platform does with keyroute's typed gRPC API, in Python.

Connects to a router over mutual TLS with a platform certificate (`keyroute certs issue
--identity platform/<name>`), checking the router's certificate against the CA by hostname
with grpc's stock TLS settings, and for one of its users (whose gateway token it forwards in
`authorization: Bearer ...`):

  1. adds a provider key for the user (VaultService.CreateCredential, which the router
     passes through to the vault for platforms),
  2. tests it live (RouterService.TestCredential),
  3. chats, whole (Complete) and streamed (CompleteStream), checking the new key served,
  4. lists the models the user can route (ListModels),
  5. deletes the key again (VaultService.DeleteCredential), so a run leaves nothing behind.

Prints a line per step and exits 1 when any step failed (2 for bad arguments).

    KEYROUTE_TOKEN=kr_... python example.py --router localhost:7444 --ca DIR/ca.crt \
        --cert DIR/platform-examples.crt --key DIR/platform-examples.key --owner-id usr_...

The provider key defaults to one the mock providers of `keyroute dev --mock` accept; set
KEYROUTE_EXAMPLE_PROVIDER_KEY to add a real one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import uuid

import grpc

from keyroute_grpc.router.v1 import router_pb2, router_pb2_grpc
from keyroute_grpc.vault.v1 import vault_pb2, vault_pb2_grpc

TIMEOUT_S = 30.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", required=True, help="HOST:PORT of the router, by the name its certificate carries (localhost:PORT for keyroute dev)")
    parser.add_argument("--ca", required=True, help="the CA certificate that signed the router's (PEM)")
    parser.add_argument("--cert", required=True, help="the platform's client certificate (PEM)")
    parser.add_argument("--key", required=True, help="the platform's private key (PEM)")
    parser.add_argument("--owner-id", required=True, help="the principal the key is added for: the user whose token is forwarded, or one of their orgs")
    parser.add_argument("--provider", default="openai", help="the key's provider (default: openai)")
    parser.add_argument("--model", default="gpt-4o-mini", help="the model to chat with, served by --provider (default: gpt-4o-mini)")
    parser.add_argument("--connect-timeout", type=float, default=TIMEOUT_S, help="seconds to wait for the TLS connection (default: 30)")
    args = parser.parse_args()
    args.token = os.environ.get("KEYROUTE_TOKEN", "")
    if not args.token:
        parser.error("KEYROUTE_TOKEN must hold the user's gateway token (kr_...)")
    args.provider_key = os.environ.get("KEYROUTE_EXAMPLE_PROVIDER_KEY") or f"sk-mock-example-{secrets.token_hex(8)}"
    return args


class Run:
    """The steps so far: what failed, and the metadata every call carries."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.run_id = uuid.uuid4().hex[:12]
        self.failures: list[str] = []

    def metadata(self, step: str) -> list[tuple[str, str]]:
        # The user's gateway token, and a request id the router echoes and the vault audits.
        return [("authorization", f"Bearer {self.token}"), ("x-request-id", f"example-py-{self.run_id}-{step}")]

    def ok(self, step: str, message: str) -> None:
        print(f"{step}: ok: {message}", flush=True)

    def fail(self, step: str, message: str) -> None:
        self.failures.append(step)
        print(f"{step}: FAILED: {message}", flush=True)

    def rpc_failed(self, step: str, error: grpc.RpcError) -> None:
        # The router says where a failure came from and whether a retry may help.
        extra = [f"{k}={v}" for k, v in (error.trailing_metadata() or ()) if k.startswith(("x-keyroute-", "retry-after"))]
        self.fail(step, f"{error.code().name}: {error.details()}" + (f" [{' '.join(extra)}]" if extra else ""))


def served_by_headers(metadata) -> str:
    """The router's `x-keyroute-*` answer metadata and the request id, as `name=value` pairs."""
    return " ".join(f"{k}={v}" for k, v in sorted(metadata or ()) if k.startswith("x-keyroute-") or k == "x-request-id")


def chat_request(model: str, text: str) -> router_pb2.ChatRequest:
    return router_pb2.ChatRequest(
        model=model,
        messages=[
            router_pb2.Message(role=router_pb2.ROLE_SYSTEM, content=[router_pb2.ContentPart(text="Answer in one sentence.")]),
            router_pb2.Message(role=router_pb2.ROLE_USER, content=[router_pb2.ContentPart(text=text)]),
        ],
        sampling=router_pb2.Sampling(max_tokens=64),
    )


def check_served(run: Run, step: str, served: router_pb2.ServedBy, credential: vault_pb2.Credential) -> bool:
    if served.key_source != router_pb2.KEY_SOURCE_BYOK or served.credential_fingerprint != credential.fingerprint:
        run.fail(
            step,
            f"served by {router_pb2.KeySource.Name(served.key_source)} {served.credential_fingerprint!r}, "
            f"not by the key added ({credential.fingerprint})",
        )
        return False
    return True


def main() -> int:
    args = parse_args()
    run = Run(args.token)
    with open(args.ca, "rb") as ca, open(args.cert, "rb") as cert, open(args.key, "rb") as key:
        # Stock TLS: the router's certificate must chain to the CA and name the host in
        # --router; the platform's certificate and key answer the router's request for one.
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.read(), private_key=key.read(), certificate_chain=cert.read())
    with grpc.secure_channel(args.router, credentials) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=args.connect_timeout)
        except grpc.FutureTimeoutError:
            run.fail("connect", f"no TLS connection to {args.router} within {args.connect_timeout:g}s (wrong address, CA or certificate?)")
            return 1
        run.ok("connect", f"{args.router} over mTLS")
        router = router_pb2_grpc.RouterServiceStub(channel)
        # The vault's key management, on the router's own address.
        vault = vault_pb2_grpc.VaultServiceStub(channel)

        credential = None
        try:
            created = vault.CreateCredential(
                vault_pb2.CreateCredentialRequest(
                    owner_id=args.owner_id,
                    provider=args.provider,
                    label=f"grpc-example-python-{run.run_id}",
                    secret=args.provider_key,
                ),
                metadata=run.metadata("create-key"),
                timeout=TIMEOUT_S,
            )
            credential = created.credential
            run.ok("create key", f"{credential.id} ({credential.provider}, {credential.label}, {credential.fingerprint})")
        except grpc.RpcError as error:
            run.rpc_failed("create key", error)

        try:
            if credential is not None:
                test_key(run, router, credential)
                chat(run, router, args.model, credential)
                stream(run, router, args.model, credential)
            list_models(run, router, args.model)
        finally:
            if credential is not None:
                try:
                    vault.DeleteCredential(
                        vault_pb2.DeleteCredentialRequest(credential_id=credential.id),
                        metadata=run.metadata("delete-key"),
                        timeout=TIMEOUT_S,
                    )
                    run.ok("delete key", credential.id)
                except grpc.RpcError as error:
                    run.rpc_failed("delete key", error)

    if run.failures:
        print(f"example (python): {len(run.failures)} step(s) failed: {', '.join(run.failures)}")
        return 1
    print("example (python): every step passed")
    return 0


def test_key(run: Run, router: router_pb2_grpc.RouterServiceStub, credential: vault_pb2.Credential) -> None:
    try:
        tested = router.TestCredential(
            router_pb2.TestCredentialRequest(credential_id=credential.id),
            metadata=run.metadata("test-key"),
            timeout=TIMEOUT_S,
        )
    except grpc.RpcError as error:
        run.rpc_failed("test key", error)
        return
    outcome = router_pb2.TestOutcome.Name(tested.outcome)
    if tested.outcome != router_pb2.TEST_OUTCOME_OK:
        run.fail("test key", f"{outcome}: {tested.provider_message}")
        return
    run.ok("test key", f"{outcome} at {tested.provider} in {tested.latency_ms} ms; the key lists {len(tested.models)} models")


def chat(run: Run, router: router_pb2_grpc.RouterServiceStub, model: str, credential: vault_pb2.Credential) -> None:
    try:
        answer, call = router.Complete.with_call(
            router_pb2.CompleteRequest(request=chat_request(model, "Say hello to keyroute.")),
            metadata=run.metadata("complete"),
            timeout=TIMEOUT_S,
        )
    except grpc.RpcError as error:
        run.rpc_failed("complete", error)
        return
    response = answer.response
    text = "".join(part.text for choice in response.choices for part in choice.message.content if part.WhichOneof("part") == "text")
    if not text:
        run.fail("complete", f"no text in the answer: {response}")
        return
    if check_served(run, "complete", response.served_by, credential):
        run.ok(
            "complete",
            f"{response.model} said {text[:60]!r} ({response.usage.input_tokens} in, {response.usage.output_tokens} out); "
            f"{served_by_headers(call.initial_metadata())}",
        )


def stream(run: Run, router: router_pb2_grpc.RouterServiceStub, model: str, credential: vault_pb2.Credential) -> None:
    text: list[str] = []
    deltas = 0
    usage = end = None
    started = time.monotonic()
    try:
        call = router.CompleteStream(
            router_pb2.CompleteStreamRequest(request=chat_request(model, "Count to five.")),
            metadata=run.metadata("complete-stream"),
            timeout=TIMEOUT_S,
        )
        for event in call:
            kind = event.WhichOneof("event")
            if kind == "delta":
                deltas += 1
                text.append(event.delta.text)
            elif kind == "usage":
                usage = event.usage
            elif kind == "error":
                # A failure after the stream started arrives as an event, not a status.
                run.fail("complete stream", f"stream error {event.error.status} {event.error.type}: {event.error.message}")
                return
            elif kind == "end":
                end = event.end
        headers = served_by_headers(call.initial_metadata())
    except grpc.RpcError as error:
        run.rpc_failed("complete stream", error)
        return
    if end is None or not "".join(text):
        run.fail("complete stream", f"the stream ended without {'text' if end else 'its end event'}")
        return
    if check_served(run, "complete stream", end.served_by, credential):
        tokens = f"{usage.output_tokens} tokens out, " if usage else ""
        run.ok(
            "complete stream",
            f"{deltas} deltas, {tokens}{time.monotonic() - started:.2f}s: {''.join(text)[:60]!r}; {headers}",
        )


def list_models(run: Run, router: router_pb2_grpc.RouterServiceStub, model: str) -> None:
    try:
        listed = router.ListModels(router_pb2.ListModelsRequest(), metadata=run.metadata("list-models"), timeout=TIMEOUT_S)
    except grpc.RpcError as error:
        run.rpc_failed("list models", error)
        return
    ids = [m.id for m in listed.models]
    if model not in ids:
        run.fail("list models", f"{model} is not among the {len(ids)} models listed")
        return
    sources = {}
    for m in listed.models:
        name = router_pb2.KeySource.Name(m.key_source).removeprefix("KEY_SOURCE_").lower()
        sources[name] = sources.get(name, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(sources.items()))
    run.ok("list models", f"{len(ids)} routable ({counts}), {model} among them")


if __name__ == "__main__":
    sys.exit(main())
