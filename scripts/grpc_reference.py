"""Writes docs/grpc.md, the reference of keyroute's gRPC API, from the proto files' comments.

    python3 scripts/grpc_reference.py --descriptors SET.binpb --intro docs/grpc/intro.md \
        --vault-authz services/vault/src/authz.rs --out docs/grpc.md

SET.binpb is `buf build --as-file-descriptor-set -o SET.binpb` of proto/ (with source info,
buf's default): every file of the keyroute.* packages becomes a section with its services
(each RPC with its comment, request and response), messages (each field with its type and
comment) and enums, in the order the file declares them. The hand-written part (connecting,
metadata, errors) comes first, from --intro. VaultService's table of RPCs also says who may
call each, read from the vault's authorization table (--vault-authz, `VAULT_RPCS` in
services/vault/src/authz.rs), so the page cannot drift from it. clients/generate runs this,
and with --check compares instead of writing, as CI does.

Needs the `protobuf` package (clients/python/requirements-dev.txt pins it).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

FieldType = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    FieldType.TYPE_DOUBLE: "double",
    FieldType.TYPE_FLOAT: "float",
    FieldType.TYPE_INT64: "int64",
    FieldType.TYPE_UINT64: "uint64",
    FieldType.TYPE_INT32: "int32",
    FieldType.TYPE_FIXED64: "fixed64",
    FieldType.TYPE_FIXED32: "fixed32",
    FieldType.TYPE_BOOL: "bool",
    FieldType.TYPE_STRING: "string",
    FieldType.TYPE_BYTES: "bytes",
    FieldType.TYPE_UINT32: "uint32",
    FieldType.TYPE_SFIXED32: "sfixed32",
    FieldType.TYPE_SFIXED64: "sfixed64",
    FieldType.TYPE_SINT32: "sint32",
    FieldType.TYPE_SINT64: "sint64",
}
# Where the well-known types are described.
WELL_KNOWN = "https://protobuf.dev/reference/protobuf/google.protobuf/#{}"

# SourceCodeInfo paths: FileDescriptorProto and DescriptorProto field numbers.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM = 2, 3, 4
ENUM_VALUE = 2
SERVICE_METHOD = 2


@dataclass
class Comments:
    """Each declaration's comment (leading, then trailing), by its source path."""

    by_path: dict[tuple[int, ...], str]

    @classmethod
    def of(cls, file: descriptor_pb2.FileDescriptorProto) -> "Comments":
        by_path = {}
        for location in file.source_code_info.location:
            parts = [dedent(location.leading_comments), dedent(location.trailing_comments)]
            text = "\n\n".join(p for p in parts if p)
            if text:
                by_path[tuple(location.path)] = text
        return cls(by_path)

    def get(self, *path: int) -> str:
        return self.by_path.get(tuple(path), "")


def dedent(comment: str) -> str:
    """A `//` comment's text: each line without the one space after `//`, trimmed."""
    lines = [line[1:] if line.startswith(" ") else line for line in comment.split("\n")]
    return "\n".join(lines).strip()


def one_line(text: str) -> str:
    """A comment for a table cell: its lines joined, pipes escaped."""
    return re.sub(r"\s*\n\s*", " ", text).replace("|", "\\|")


VAULT_SERVICE = "keyroute.vault.v1.VaultService"
# The vault's peer roles, as the page names them.
ROLES = {"Admin": "`admin`", "Edge": "`edge`", "Router": "`router`", "Platform": "`platform/*` (at the router)"}


def vault_callers(path: Path) -> dict[str, str]:
    """Who may call each VaultService RPC: `VAULT_RPCS` in the vault's authz.rs, whose lines
    read `("CreateCredential", &[Admin, Edge, Platform]),`."""
    text = path.read_text(encoding="utf-8")
    table = re.search(r"const VAULT_RPCS: &\[\(&str, &\[PeerRole\]\)\] = &\[(.*?)\n\];", text, re.DOTALL)
    if not table:
        raise SystemExit(f"{path}: no `const VAULT_RPCS` table found; update scripts/grpc_reference.py")
    callers = {}
    for name, roles in re.findall(r'\(\s*"(\w+)",\s*&\[([^\]]*)\]\s*\)', table.group(1)):
        words = [r.strip() for r in roles.split(",") if r.strip()]
        unknown = [w for w in words if w not in ROLES]
        if unknown:
            raise SystemExit(f"{path}: VAULT_RPCS names unknown roles {unknown} for {name}")
        callers[name] = ", ".join(ROLES[w] for w in words)
    if not callers:
        raise SystemExit(f"{path}: VAULT_RPCS has no entries that scripts/grpc_reference.py can read")
    return callers


def anchor(full_name: str) -> str:
    return full_name.lstrip(".")


class Page:
    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto], callers: dict[str, dict[str, str]]) -> None:
        self.files = files
        # Who may call each RPC, by service full name and method (where known).
        self.callers = callers
        self.lines: list[str] = []
        # Every keyroute type's full name, so that field types link to their entry.
        self.known = set()
        for file in files:
            self._collect(file.package, file.message_type, file.enum_type)

    def _collect(self, scope: str, messages, enums) -> None:
        for enum in enums:
            self.known.add(f".{scope}.{enum.name}")
        for message in messages:
            name = f"{scope}.{message.name}"
            self.known.add(f".{name}")
            self._collect(name, message.nested_type, message.enum_type)

    def out(self, line: str = "") -> None:
        self.lines.append(line)

    def link(self, type_name: str, package: str) -> str:
        """A type's name as the reader should see it, linked to where it is described."""
        if type_name in self.known:
            short = type_name[len(package) + 2 :] if type_name.startswith(f".{package}.") else anchor(type_name)
            return f"[`{short}`](#{anchor(type_name)})"
        if type_name.startswith(".google.protobuf."):
            short = type_name[len(".google.protobuf.") :]
            return f"[`google.protobuf.{short}`]({WELL_KNOWN.format(short.lower())})"
        return f"`{anchor(type_name)}`"

    def render(self) -> str:
        for file in self.files:
            self.file(file)
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"

    def file(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        comments = Comments.of(file)
        package = file.package
        self.out(f"## Package `{package}`")
        self.out()
        self.out(f"Defined in [`proto/{file.name}`](../proto/{file.name}).")
        self.out()
        for index, service in enumerate(file.service):
            self.service(service, package, comments, (FILE_SERVICE, index))
        self.out(f"### Messages of `{package}`")
        self.out()
        for index, message in enumerate(file.message_type):
            self.message(message, package, package, comments, (FILE_MESSAGE, index))
        if file.enum_type:
            self.out(f"### Enums of `{package}`")
            self.out()
            for index, enum in enumerate(file.enum_type):
                self.enum(enum, package, comments, (FILE_ENUM, index))

    def service(self, service, package: str, comments: Comments, path: tuple[int, ...]) -> None:
        full = f"{package}.{service.name}"
        self.out(f'<a id="{full}"></a>')
        self.out()
        self.out(f"### Service `{full}`")
        self.out()
        if text := comments.get(*path):
            self.out(text)
            self.out()
        callers = self.callers.get(full)
        if callers is not None:
            missing = [m.name for m in service.method if m.name not in callers]
            if missing:
                raise SystemExit(f"{full}: no authorization entry for {', '.join(missing)}")
            self.out("| RPC | Request | Response | May call |")
            self.out("| --- | --- | --- | --- |")
        else:
            self.out("| RPC | Request | Response |")
            self.out("| --- | --- | --- |")
        for method in service.method:
            row = (
                f"| [`{method.name}`](#{full}.{method.name}) | {self.rpc_type(method.input_type, method.client_streaming, package)} "
                f"| {self.rpc_type(method.output_type, method.server_streaming, package)} |"
            )
            if callers is not None:
                row += f" {callers[method.name]} |"
            self.out(row)
        self.out()
        for index, method in enumerate(service.method):
            self.out(f'<a id="{full}.{method.name}"></a>')
            self.out()
            self.out(f"#### `{service.name}.{method.name}`")
            self.out()
            self.out(
                f"`rpc {method.name}({'stream ' if method.client_streaming else ''}{anchor(method.input_type).split('.')[-1]}) "
                f"returns ({'stream ' if method.server_streaming else ''}{anchor(method.output_type).split('.')[-1]})`: "
                f"{self.link(method.input_type, package)} in, "
                f"{'a stream of ' if method.server_streaming else ''}{self.link(method.output_type, package)} out."
            )
            self.out()
            text = comments.get(*path, SERVICE_METHOD, index)
            self.out(text or "_No comment in the proto file._")
            self.out()
            if callers is not None:
                self.out(f"May call: {callers[method.name]}.")
                self.out()

    def rpc_type(self, type_name: str, streaming: bool, package: str) -> str:
        return ("stream " if streaming else "") + self.link(type_name, package)

    def field_type(self, field, message, package: str) -> str:
        if field.type in (FieldType.TYPE_MESSAGE, FieldType.TYPE_ENUM):
            entry = self.map_entry(field, message)
            if entry is not None:
                key, value = entry.field
                if value.type in SCALARS:
                    return f"`map<{SCALARS[key.type]}, {SCALARS[value.type]}>`"
                short = value.type_name.rsplit(".", 1)[-1]
                return f"`map<{SCALARS[key.type]}, {short}>` ({self.link(value.type_name, package)})"
            name = self.link(field.type_name, package)
        else:
            name = f"`{SCALARS[field.type]}`"
        if field.label == FieldType.LABEL_REPEATED:
            return f"repeated {name}"
        if field.proto3_optional:
            return f"optional {name}"
        return name

    @staticmethod
    def map_entry(field, message):
        if field.label != FieldType.LABEL_REPEATED or field.type != FieldType.TYPE_MESSAGE:
            return None
        short = field.type_name.rsplit(".", 1)[-1]
        for nested in message.nested_type:
            if nested.name == short and nested.options.map_entry:
                return nested
        return None

    def message(self, message, scope: str, package: str, comments: Comments, path: tuple[int, ...]) -> None:
        full = f"{scope}.{message.name}"
        self.out(f'<a id="{full}"></a>')
        self.out()
        self.out(f"#### `{full[len(package) + 1 :]}`")
        self.out()
        if text := comments.get(*path):
            self.out(text)
            self.out()
        if message.field:
            # Fields of a oneof (not proto3 `optional`'s synthetic ones) say which.
            oneofs = [o.name for o in message.oneof_decl]
            self.out("| Field | Type | Description |")
            self.out("| --- | --- | --- |")
            for index, field in enumerate(message.field):
                description = one_line(comments.get(*path, MESSAGE_FIELD, index))
                if field.HasField("oneof_index") and not field.proto3_optional:
                    note = f"One of `{oneofs[field.oneof_index]}`."
                    description = f"{note} {description}" if description else note
                self.out(f"| `{field.name}` | {self.field_type(field, message, package)} | {description} |")
            self.out()
        else:
            self.out("No fields.")
            self.out()
        for index, enum in enumerate(message.enum_type):
            self.enum(enum, full, comments, (*path, MESSAGE_ENUM, index), package)
        for index, nested in enumerate(message.nested_type):
            if not nested.options.map_entry:
                self.message(nested, full, package, comments, (*path, MESSAGE_NESTED, index))

    def enum(self, enum, scope: str, comments: Comments, path: tuple[int, ...], package: str | None = None) -> None:
        package = package or scope
        full = f"{scope}.{enum.name}"
        self.out(f'<a id="{full}"></a>')
        self.out()
        self.out(f"#### `{full[len(package) + 1 :]}`")
        self.out()
        if text := comments.get(*path):
            self.out(text)
            self.out()
        self.out("| Value | Number | Description |")
        self.out("| --- | --- | --- |")
        for index, value in enumerate(enum.value):
            self.out(f"| `{value.name}` | {value.number} | {one_line(comments.get(*path, ENUM_VALUE, index))} |")
        self.out()


def render(descriptors: Path, intro: Path, vault_authz: Path | None) -> str:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()).file
    ours = [f for f in files if f.package.startswith("keyroute.")]
    if not ours:
        raise SystemExit(f"{descriptors}: no keyroute.* file in it")
    if not any(f.source_code_info.location for f in ours):
        raise SystemExit(f"{descriptors}: no source info (build it without --exclude-source-info)")
    head = intro.read_text(encoding="utf-8").rstrip("\n")
    callers = {VAULT_SERVICE: vault_callers(vault_authz)} if vault_authz else {}
    return head + "\n\n" + Page(sorted(ours, key=lambda f: f.name), callers).render()


def main() -> int:
    parser = argparse.ArgumentParser(description="Writes docs/grpc.md from the proto files' comments.")
    parser.add_argument("--descriptors", type=Path, required=True, help="buf build --as-file-descriptor-set output")
    parser.add_argument("--intro", type=Path, required=True, help="the hand-written first part (docs/grpc/intro.md)")
    parser.add_argument("--out", type=Path, required=True, help="the page to write (docs/grpc.md)")
    parser.add_argument("--vault-authz", type=Path, help="the vault's authz.rs, for who may call each VaultService RPC")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing; exit 1 when it differs")
    args = parser.parse_args()
    page = render(args.descriptors, args.intro, args.vault_authz)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != page:
            print(f"{args.out} is not what the proto files and {args.intro} make: run `bash clients/generate`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
