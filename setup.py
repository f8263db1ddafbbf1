"""Build hook: generate the protobuf modules into the wheel, so `pip install .` needs no
prior `make protos`. Everything else about the package lives in pyproject.toml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithProtos(build_py):  # type: ignore[misc]  # setuptools is untyped
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install uses the tree's own modules (make protos)
        spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
        assert spec is not None
        assert spec.loader is not None
        gen_protos = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen_protos)
        gen_protos.generate(Path(self.build_lib))


setup(cmdclass={"build_py": BuildPyWithProtos})
