#!/usr/bin/env python3
"""Generate the protobuf and gRPC modules of tigris_grpc from proto/.

Run by ``make protos`` and by the package build (``setup.py``), so a wheel always carries them.

Layout, and why there is no import fix-up: the sources live at
``proto/tigris_grpc/_proto/*.proto`` and protoc is run with ``-I proto``. Each file therefore
registers as ``tigris_grpc/_proto/<name>.proto`` (a name no other package uses) and any generated
import already reads ``from tigris_grpc._proto import ...``.

Output is written to a temporary directory first and then moved into place, so an interrupted
run never leaves half a set of modules behind. Running it twice gives the same files.

The generator is pinned (`GENERATOR`, also the build requirements in pyproject.toml). It pins
protobuf below 7, so ``make protos`` runs this script from a virtualenv of its own
(``.venv/protoc``, set up from ``gen_protos.py --requirements``) rather than the development one.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_SUBDIR = Path("tigris_grpc") / "_proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
#: What generates the modules. grpcio-tools 1.80 is the newest that runs on Python 3.9; its output
#: needs protobuf>=6.31.1 and grpcio>=1.80.1 at run time (the package's lower bounds).
GENERATOR = ("grpcio-tools==1.80.1", "mypy-protobuf==5.1.0")


def _plugin(tmp: Path, name: str, entry: str) -> Path:
    """Write an executable protoc plugin that runs a mypy-protobuf entry point.

    The plugin scripts pip installs may not be on PATH (isolated build environments), so we make
    our own that uses this interpreter.
    """
    path = tmp / f"protoc-gen-{name}"
    path.write_text(f"#!{sys.executable}\nfrom mypy_protobuf.main import {entry}\n{entry}()\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def generate(out_root: Path = ROOT) -> list[Path]:
    """Generate every module for proto/ into ``out_root/tigris_grpc/_proto``.

    Returns the generated files, relative to ``out_root``.
    """
    from grpc_tools import protoc  # noqa: PLC0415 - build-time dependency, imported on use

    sources = sorted((PROTO_ROOT / PACKAGE_SUBDIR).glob("*.proto"))
    if not sources:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / PACKAGE_SUBDIR}")
    well_known = Path(protoc.__file__).resolve().parent / "_proto"

    with tempfile.TemporaryDirectory(prefix="tigris-protos-") as tmp_name:
        tmp = Path(tmp_name)
        out = tmp / "out"
        out.mkdir()
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--plugin=protoc-gen-mypy={_plugin(tmp, 'mypy', 'main')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin(tmp, 'mypy_grpc', 'grpc')}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_out=quiet:{out}",
            f"--mypy_grpc_out=quiet:{out}",
            *(str(src.relative_to(PROTO_ROOT)) for src in sources),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed; see the messages above")

        target = out_root / PACKAGE_SUBDIR
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.iterdir():
            if stale.name.endswith(GENERATED_SUFFIXES):
                stale.unlink()
        written = []
        for produced in sorted((out / PACKAGE_SUBDIR).iterdir()):
            if produced.name.endswith(GENERATED_SUFFIXES):
                shutil.move(str(produced), target / produced.name)
                written.append(PACKAGE_SUBDIR / produced.name)
    return written


def main() -> None:
    if sys.argv[1:] == ["--requirements"]:
        print(" ".join(GENERATOR))
        return
    out_root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    for path in generate(out_root):
        print(f"generated {path}")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
