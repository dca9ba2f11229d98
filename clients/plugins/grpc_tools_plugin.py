"""A protoc plugin, run by `buf generate` (clients/buf.gen.yaml), that hands its files to one
of the generators built into grpcio-tools' protoc: `python`, `pyi` or `grpc_python`.

    local: [python3, clients/plugins/grpc_tools_plugin.py, GENERATOR]
    opt: [package=keyroute_grpc]

buf cannot call grpcio-tools' gRPC generator itself (it is no `protoc-gen-*` program), so
this runs it in-process with the pinned grpcio-tools of the caller's virtualenv, on the
descriptors buf built: no other protoc is involved, and the output depends only on the pinned
versions.

`package=NAME` moves the generated modules from the proto package's own root (`keyroute.`)
under NAME (`keyroute_grpc.`): file paths, the imports between generated modules and the
module names recorded in them, never the proto package names (the wire names stay
`keyroute.router.v1.RouterService`). It also adds an empty `__init__.py` to each directory it
fills below NAME.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc

GENERATORS = ("python", "pyi", "grpc_python")
PROTO_ROOT = "keyroute"


def parse_options(parameter: str) -> tuple[str | None, list[str]]:
    """The `package=` option, and the rest passed on to the generator."""
    package = None
    rest = []
    for option in filter(None, parameter.split(",")):
        key, _, value = option.partition("=")
        if key == "package":
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                raise ValueError(f"package={value!r} is not a Python identifier")
            package = value
        else:
            rest.append(option)
    return package, rest


def relocate(name: str, content: str, package: str) -> tuple[str, str]:
    """Moves one generated file from `keyroute/...` to `<package>/...`."""
    if not name.startswith(PROTO_ROOT + "/"):
        raise ValueError(f"{name} is outside {PROTO_ROOT}/; cannot move it under {package}")
    name = package + name[len(PROTO_ROOT) :]
    # `from keyroute.router.v1 import router_pb2 as ...` (the stubs import their messages).
    content = re.sub(
        rf"^(\s*from ){PROTO_ROOT}((?:\.\w+)+ import )",
        rf"\1{package}\2",
        content,
        flags=re.MULTILINE,
    )
    # `import keyroute.router.v1.router_pb2` and the module names given to the builder
    # (`'keyroute.router.v1.router_pb2'`): only dotted names ending in a generated module, so
    # the proto package names inside the serialized descriptors are left as they are.
    content = re.sub(
        rf"\b{PROTO_ROOT}((?:\.\w+)+\.\w+_pb2(?:_grpc)?)\b",
        rf"{package}\1",
        content,
    )
    return name, content


def generate(request: plugin_pb2.CodeGeneratorRequest, generator: str) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    try:
        package, options = parse_options(request.parameter)
    except ValueError as error:
        response.error = str(error)
        return response
    with tempfile.TemporaryDirectory() as work:
        descriptors = os.path.join(work, "input.binpb")
        with open(descriptors, "wb") as out:
            out.write(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        generated = os.path.join(work, "out")
        os.mkdir(generated)
        target = generated if not options else ",".join(options) + ":" + generated
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"--descriptor_set_in={descriptors}",
                f"--{generator}_out={target}",
                *request.file_to_generate,
            ]
        )
        if status != 0:
            response.error = f"grpc_tools.protoc --{generator}_out failed ({status}); see above"
            return response
        files = []
        for directory, _, names in os.walk(generated):
            for file_name in names:
                path = os.path.join(directory, file_name)
                name = os.path.relpath(path, generated).replace(os.sep, "/")
                with open(path, encoding="utf-8") as source:
                    files.append((name, source.read()))
    packages = set()
    for name, content in sorted(files):
        if package:
            try:
                name, content = relocate(name, content, package)
            except ValueError as error:
                response.error = str(error)
                return response
            parts = name.split("/")[:-1]
            packages.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
        response.file.add(name=name, content=content)
    # The generated directories' packages (not `<package>/__init__.py`: hand-written). Only
    # the `python` generator writes them, so that the three generators never write one file.
    if generator == "python":
        for directory in sorted(packages):
            response.file.add(name=f"{directory}/__init__.py", content="")
    return response


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in GENERATORS:
        print(f"usage: {sys.argv[0]} {{{'|'.join(GENERATORS)}}} (a protoc plugin)", file=sys.stderr)
        return 2
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = generate(request, sys.argv[1])
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
