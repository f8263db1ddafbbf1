"""The generated modules match CONTRACT.md: wire bytes, method paths, types, importability."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor as F

import tigris_grpc._proto
from tigris_grpc._pb import (
    auth_pb2,
    auth_pb2_grpc,
    health_pb2,
    health_pb2_grpc,
    management_pb2,
    management_pb2_grpc,
    observability_pb2,
)

ROOT = Path(__file__).resolve().parent.parent
MGMT = "tigrisdata.management.v1"

# (service full name, method, request full name, response full name), from CONTRACT.md.
CONTRACT_METHODS = [
    (
        f"{MGMT}.Management",
        "CreateNamespace",
        f"{MGMT}.CreateNamespaceRequest",
        f"{MGMT}.CreateNamespaceResponse",
    ),
    (
        f"{MGMT}.Management",
        "ListNamespaces",
        f"{MGMT}.ListNamespacesRequest",
        f"{MGMT}.ListNamespacesResponse",
    ),
    (
        f"{MGMT}.Management",
        "DeleteNamespace",
        f"{MGMT}.DeleteNamespaceRequest",
        f"{MGMT}.DeleteNamespaceResponse",
    ),
    *(
        (
            f"{MGMT}.Management",
            f"{verb}{scope}Metadata",
            f"{MGMT}.{verb}{scope}MetadataRequest",
            f"{MGMT}.{verb}{scope}MetadataResponse",
        )
        for verb in ("Insert", "Get", "Update")
        for scope in ("User", "Namespace")
    ),
    (
        "tigrisdata.auth.v1.Auth",
        "GetAccessToken",
        "tigrisdata.auth.v1.GetAccessTokenRequest",
        "tigrisdata.auth.v1.GetAccessTokenResponse",
    ),
    ("HealthAPI", "Health", "HealthCheckInput", "HealthCheckResponse"),
]


def test_insert_user_metadata_request_wire_bytes() -> None:
    req = management_pb2.InsertUserMetadataRequest(metadataKey="k", value=b"{}")
    assert req.SerializeToString().hex() == "0a016b12027b7d"


def test_get_user_metadata_response_wire_bytes() -> None:
    resp = management_pb2.GetUserMetadataResponse(metadataKey="k", userId="u", namespaceId=3, value=b"x")
    assert resp.SerializeToString().hex() == "0a016b1201751803220178"
    assert management_pb2.GetUserMetadataResponse.FromString(bytes.fromhex("0a016b1201751803220178")) == resp


@pytest.mark.parametrize(("service", "method", "request_type", "response_type"), CONTRACT_METHODS)
def test_contract_method_paths_and_types(service: str, method: str, request_type: str, response_type: str) -> None:
    files = {
        "tigrisdata.management.v1.Management": management_pb2,
        "tigrisdata.auth.v1.Auth": auth_pb2,
        "HealthAPI": health_pb2,
    }
    descriptor = files[service].DESCRIPTOR.services_by_name[service.rsplit(".", 1)[-1]]
    assert descriptor.full_name == service
    rpc = descriptor.methods_by_name[method]
    assert f"/{descriptor.full_name}/{rpc.name}" == f"/{service}/{method}"
    assert rpc.input_type.full_name == request_type
    assert rpc.output_type.full_name == response_type
    assert not rpc.client_streaming
    assert not rpc.server_streaming


class _PathRecorder:
    """A stand-in channel that records what the generated stubs register."""

    def __init__(self) -> None:
        self.paths: dict[str, tuple[object, object]] = {}

    def unary_unary(self, path: str, request_serializer: object, response_deserializer: object, **_: object) -> None:
        self.paths[path] = (request_serializer, response_deserializer)


def test_generated_stubs_call_the_contract_paths() -> None:
    recorder: Any = _PathRecorder()
    management_pb2_grpc.ManagementStub(recorder)
    auth_pb2_grpc.AuthStub(recorder)
    health_pb2_grpc.HealthAPIStub(recorder)
    expected = {f"/{service}/{method}" for service, method, _, _ in CONTRACT_METHODS}
    assert set(recorder.paths) == expected
    serializer, deserializer = recorder.paths["/tigrisdata.management.v1.Management/GetUserMetadata"]
    assert serializer == management_pb2.GetUserMetadataRequest.SerializeToString
    assert deserializer == management_pb2.GetUserMetadataResponse.FromString


def test_management_service_has_exactly_the_nine_rpcs() -> None:
    methods = {m.name for m in management_pb2.DESCRIPTOR.services_by_name["Management"].methods}
    assert methods == {m for s, m, _, _ in CONTRACT_METHODS if s.endswith("Management")}
    assert len(methods) == 9


def _fields(message: Any) -> dict[str, tuple[int, int, bool]]:
    return {f.name: (f.number, f.type, f.has_presence) for f in message.DESCRIPTOR.fields}


def test_field_numbers_and_types_match_the_contract() -> None:
    user_resp = {
        "metadataKey": (1, F.TYPE_STRING),
        "userId": (2, F.TYPE_STRING),
        "namespaceId": (3, F.TYPE_UINT32),
        "value": (4, F.TYPE_BYTES),
    }
    ns_resp = {
        "metadataKey": (1, F.TYPE_STRING),
        "namespaceId": (2, F.TYPE_UINT32),
        "value": (3, F.TYPE_BYTES),
    }
    write_req = {"metadataKey": (1, F.TYPE_STRING), "value": (2, F.TYPE_BYTES)}
    expected: dict[Any, dict[str, tuple[int, int]]] = {
        management_pb2.GetUserMetadataRequest: {"metadataKey": (1, F.TYPE_STRING)},
        management_pb2.GetNamespaceMetadataRequest: {"metadataKey": (1, F.TYPE_STRING)},
        management_pb2.GetUserMetadataResponse: user_resp,
        management_pb2.InsertUserMetadataResponse: user_resp,
        management_pb2.UpdateUserMetadataResponse: user_resp,
        management_pb2.GetNamespaceMetadataResponse: ns_resp,
        management_pb2.InsertNamespaceMetadataResponse: ns_resp,
        management_pb2.UpdateNamespaceMetadataResponse: ns_resp,
        management_pb2.InsertUserMetadataRequest: write_req,
        management_pb2.UpdateUserMetadataRequest: write_req,
        management_pb2.InsertNamespaceMetadataRequest: write_req,
        management_pb2.UpdateNamespaceMetadataRequest: write_req,
        management_pb2.CreateNamespaceRequest: {
            "code": (1, F.TYPE_UINT32),
            "id": (2, F.TYPE_STRING),
            "name": (3, F.TYPE_STRING),
        },
        management_pb2.NamespaceInfo: {
            "code": (1, F.TYPE_INT32),
            "id": (2, F.TYPE_STRING),
            "name": (3, F.TYPE_STRING),
        },
        management_pb2.CreateNamespaceResponse: {
            "message": (1, F.TYPE_STRING),
            "status": (2, F.TYPE_STRING),
            "namespace": (3, F.TYPE_MESSAGE),
        },
        management_pb2.DescribeNamespacesData: {"details": (1, F.TYPE_STRING)},
        management_pb2.ListNamespacesRequest: {
            "describe": (1, F.TYPE_BOOL),
            "namespace_id": (2, F.TYPE_STRING),
        },
        management_pb2.ListNamespacesResponse: {
            "namespaces": (1, F.TYPE_MESSAGE),
            "data": (2, F.TYPE_MESSAGE),
        },
        management_pb2.DeleteNamespaceRequest: {"namespace_id": (1, F.TYPE_STRING)},
        management_pb2.DeleteNamespaceResponse: {
            "message": (1, F.TYPE_STRING),
            "status": (2, F.TYPE_STRING),
        },
        auth_pb2.GetAccessTokenRequest: {
            "grant_type": (1, F.TYPE_ENUM),
            "refresh_token": (2, F.TYPE_STRING),
            "client_id": (3, F.TYPE_STRING),
            "client_secret": (4, F.TYPE_STRING),
        },
        auth_pb2.GetAccessTokenResponse: {
            "access_token": (1, F.TYPE_STRING),
            "refresh_token": (2, F.TYPE_STRING),
            "expires_in": (3, F.TYPE_INT32),
        },
        health_pb2.HealthCheckResponse: {"response": (1, F.TYPE_STRING)},
        health_pb2.HealthCheckInput: {},
    }
    for message, fields in expected.items():
        actual = {name: (num, typ) for name, (num, typ, _) in _fields(message).items()}
        assert actual == fields, message.DESCRIPTOR.full_name
    assert _fields(management_pb2.ListNamespacesRequest)["describe"][2]  # `optional`
    assert _fields(management_pb2.ListNamespacesResponse)["data"][2]
    assert management_pb2.ListNamespacesResponse.DESCRIPTOR.fields_by_name["namespaces"].is_repeated


def test_enums_match_the_contract() -> None:
    assert dict(auth_pb2.GrantType.items()) == {"REFRESH_TOKEN": 0, "CLIENT_CREDENTIALS": 1}
    codes = dict(observability_pb2.Code.items())
    assert len(codes) == 21
    assert codes["OK"] == 0
    assert codes["UNAUTHENTICATED"] == 16
    assert [codes[n] for n in ("CONFLICT", "BAD_GATEWAY", "METHOD_NOT_ALLOWED", "CONTENT_TOO_LARGE")] == [
        17,
        18,
        19,
        20,
    ]
    for status in grpc.StatusCode:
        assert codes[status.name] == status.value[0]


def test_files_register_under_our_own_names() -> None:
    for module in (auth_pb2, health_pb2, management_pb2, observability_pb2):
        assert module.DESCRIPTOR.name.startswith("tigris_grpc/_proto/")
    assert management_pb2.DESCRIPTOR.package == MGMT
    assert health_pb2.DESCRIPTOR.package == ""
    # No HTTP/OpenAPI annotation imports: nothing extra to install.
    assert [d.name for d in management_pb2.DESCRIPTOR.dependencies] == []


def test_every_generated_module_imports() -> None:
    names = [m.name for m in pkgutil.iter_modules(tigris_grpc._proto.__path__)]
    expected = {
        f"{base}{suffix}"
        for base in ("auth", "health", "management", "observability")
        for suffix in ("_pb2", "_pb2_grpc")
    }
    assert expected <= set(names)
    for name in names:
        importlib.import_module(f"tigris_grpc._proto.{name}")
    for base in ("auth", "health", "management", "observability"):
        for suffix in ("_pb2.pyi", "_pb2_grpc.pyi"):
            assert (Path(tigris_grpc._proto.__path__[0]) / f"{base}{suffix}").is_file()


# `make protos` runs the generator from a virtualenv of its own (it pins protobuf below 7), made
# inside the development virtualenv that runs these tests.
GENERATOR_PYTHON = Path(sys.prefix) / "protoc" / "bin" / "python"


def _generator_pins() -> list[str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--requirements"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def test_the_build_pins_the_same_generator_as_make_protos() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    requires = next(line for line in pyproject.splitlines() if line.startswith("requires = "))
    pins = _generator_pins()
    assert pins, "gen_protos.py --requirements printed nothing"
    for pin in pins:
        assert f'"{pin}"' in requires, f"{pin} is not in the build requirements: {requires}"


def test_generated_modules_need_no_newer_runtime_than_the_package_asks_for() -> None:
    """The lower bounds in pyproject.toml are what the generated modules check at import time."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    proto_dir = Path(tigris_grpc._proto.__path__[0])
    gencode = (proto_dir / "management_pb2.py").read_text(encoding="utf-8")
    protobuf_version = re.search(r"# Protobuf Python Version: (\d+\.\d+\.\d+)", gencode)
    grpc_version = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", (proto_dir / "management_pb2_grpc.py").read_text())
    assert protobuf_version is not None
    assert grpc_version is not None
    assert f'"protobuf>={protobuf_version[1]},' in pyproject
    assert f'"grpcio>={grpc_version[1]}"' in pyproject
    assert f'"grpcio-status>={grpc_version[1]}"' in pyproject


def _generator_python() -> str:
    """The interpreter that has the generator: `make protos`'s own, else this one if it has it."""
    if GENERATOR_PYTHON.is_file():
        return str(GENERATOR_PYTHON)
    if importlib.util.find_spec("grpc_tools") is not None:
        return sys.executable
    pytest.skip(f"no generator here: `make protos` sets one up in {GENERATOR_PYTHON.parent.parent}")


def test_generation_is_idempotent(tmp_path: Path) -> None:
    gen = [_generator_python(), str(ROOT / "scripts" / "gen_protos.py"), str(tmp_path)]
    subprocess.run(gen, check=True, capture_output=True)
    first = {p.name: p.read_bytes() for p in (tmp_path / "tigris_grpc" / "_proto").iterdir()}
    subprocess.run(gen, check=True, capture_output=True)
    second = {p.name: p.read_bytes() for p in (tmp_path / "tigris_grpc" / "_proto").iterdir()}
    assert first == second
    assert len(first) == 16


def test_missing_stubs_give_a_helpful_import_error(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "tigris_grpc",
        tmp_path / "tigris_grpc",
        ignore=shutil.ignore_patterns("*_pb2*", "__pycache__"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import tigris_grpc"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "make protos" in proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_contains_stubs_and_installs_into_a_clean_venv(tmp_path: Path) -> None:
    """`pip wheel .` generates the stubs itself (build hook); the wheel imports in a fresh venv."""
    src = tmp_path / "src"
    # A clean copy without generated files proves the build hook, not `make protos`, made them.
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv*",
            ".git",
            "*_pb2*",
            "__pycache__",
            "build",
            "dist",
            "*.egg-info",
            ".*_cache",
            ".hypothesis",
        ),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
        check=True,
    )
    (wheel,) = wheels.glob("tigris_grpc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tigris_grpc/_proto/management_pb2.py" in names
    assert "tigris_grpc/_proto/management_pb2_grpc.pyi" in names
    assert "tigris_grpc/py.typed" in names
    assert {n.split("/")[0] for n in names if not n.startswith("tigris_grpc-")} == {"tigris_grpc"}

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
    )
    out = subprocess.run(
        [
            str(py),
            "-c",
            "import tigris_grpc, tigris_grpc._pb; print(tigris_grpc.__version__)",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == tigris_grpc.__version__
