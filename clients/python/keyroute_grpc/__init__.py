"""keyroute's typed gRPC API, generated from proto/ by clients/generate.

    from keyroute_grpc.router.v1 import router_pb2, router_pb2_grpc   # RouterService
    from keyroute_grpc.vault.v1 import vault_pb2, vault_pb2_grpc      # VaultService

The services keep their proto names on the wire (`keyroute.router.v1.RouterService`); only
the Python modules live under `keyroute_grpc`. See docs/grpc.md for every RPC, its errors and
its metadata, and example.py beside this package for a whole platform client.
"""

__version__ = "0.1.0"
