"""An internal platform's gRPC client, as a platform team would write it: Python grpcio with
stubs generated from proto/ by grpcio-tools, its client certificate and the CA from files, and
the router reached by its Kubernetes Service name with grpcio's own TLS checks (the chain
against the CA, the host name against the certificate; no override, no custom verifier).
Calls ListModels and Complete with a gateway token, and checks that a name the router's
certificate does not carry is refused.

usage: platform_client.py STUBS_DIR ADDRESS CERT KEY CA [WRONG_NAME_ADDRESS]
       (the gateway token in KEYROUTE_TOKEN, never on the command line)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> int:
    stubs, address, cert, key, ca, *wrong = sys.argv[1:]
    sys.path.insert(0, stubs)
    import grpc
    from keyroute.router.v1 import router_pb2, router_pb2_grpc

    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes(),
        private_key=Path(key).read_bytes(),
        certificate_chain=Path(cert).read_bytes(),
    )
    metadata = (("authorization", f"Bearer {os.environ['KEYROUTE_TOKEN']}"),)
    with grpc.secure_channel(address, credentials) as channel:
        router = router_pb2_grpc.RouterServiceStub(channel)
        models = [m.id for m in router.ListModels(router_pb2.ListModelsRequest(), metadata=metadata, timeout=10).models]
        if "gpt-4o-mini" not in models:
            print(f"platform client: gpt-4o-mini not listed: {models}", file=sys.stderr)
            return 1
        chat = router_pb2.ChatRequest(
            model="gpt-4o-mini",
            messages=[router_pb2.Message(role=router_pb2.ROLE_USER, content=[router_pb2.ContentPart(text="platform")])],
        )
        answer = router.Complete(router_pb2.CompleteRequest(request=chat), metadata=metadata, timeout=10).response
        text = "".join(part.text for part in answer.choices[0].message.content)
        if "platform" not in text:
            print(f"platform client: unexpected answer {answer}", file=sys.stderr)
            return 1
    refusals = []
    for other in wrong:
        with grpc.secure_channel(other, credentials) as channel:
            try:
                router_pb2_grpc.RouterServiceStub(channel).ListModels(
                    router_pb2.ListModelsRequest(), metadata=metadata, timeout=5)
            except grpc.RpcError as error:
                # The handshake fails on the name, and grpcio says so.
                if error.code() != grpc.StatusCode.UNAVAILABLE or "hostname verification" not in (error.details() or "").lower():
                    print(f"platform client: {other}: {error.code()} {error.details()}", file=sys.stderr)
                    return 1
                refusals.append(f"{other} refused ({error.details()})")
            else:
                print(f"platform client: {other} is not in the router's certificate, yet it answered", file=sys.stderr)
                return 1
    print(f"platform client: {len(models)} models listed and {answer.served_by.provider or 'a provider'} "
          f"answered {text!r} through {address}; {'; '.join(refusals) or 'no wrong name tried'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
