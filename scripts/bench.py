"""Benchmark: `Tigris` and `AsyncTigris` against the bare generated stub and the REST SDK's pattern.

Every variant reads one user-metadata key holding a ~500-byte JSON value (GetUserMetadata):

- the raw generated stub (``ManagementStub`` on a plain channel, the request built per call, the
  auth header passed as a metadata tuple, the same 10 s deadline we send) and `Tigris`, on 1 and
  on 8 threads;
- the raw grpc.aio stub and `AsyncTigris`, with 64 and with 256 calls in flight;
- for diagnosis, the raw stubs plus ``json.loads`` of the value, which our answer decodes;
- the REST baseline on 1 thread: a ``requests.Session`` doing what the REST SDK does per call
  (encode the JSON request, POST it over HTTP/1.1, decode the JSON answer into the model)
  against an equivalent local endpoint (``scripts/_rest_baseline.py``).

The servers run in their own processes, so this process's CPU time is the client's alone (the
servers' CPU time per call is read from /proc). On a machine with two or more CPUs the servers
run on the last one and this process on the others (``--no-pin`` lets the scheduler place them):
a thread woken on a CPU that has gone idle is slow to run on a virtual machine, and with one call
in flight every call is such a hand-over, so unpinned figures scatter from run to run. The
variants alternate in rounds, each group (raw stub, ours) back to back in rotating order, and
the table reports medians over rounds; a ratio is the median of the per-round ratios within a
group, which cancels most of the drift of a shared machine. Then: the client's RSS after 10k and
after 200k calls on one `Tigris` (in a fresh process), and the import time of ``tigris_grpc``.

Usage::

    .venv/bin/python scripts/bench.py                  # full run, a few minutes
    .venv/bin/python scripts/bench.py --quick          # smoke run, well under a minute
    .venv/bin/python scripts/bench.py --markdown bench.md
    .venv/bin/python scripts/bench.py --target 127.0.0.1:8081 --token "$TIGRIS_TOKEN"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import platform
import random
import secrets
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from typing import TypeAlias  # Python 3.10+; annotations are never evaluated

# Before grpc is imported: on Python 3.9 subprocess forks, and grpc's fork handlers can abort the
# child before it execs (grpc issue 43055). Nothing here forks a child that uses grpc.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import grpc
import grpc.aio
import requests
from google.protobuf import __version__ as protobuf_version
from google.protobuf.internal import api_implementation

from tigris_grpc import AsyncTigris, Tigris, __version__
from tigris_grpc._pb import auth_pb2, auth_pb2_grpc, management_pb2, management_pb2_grpc
from tigris_grpc.models import operations, shared
from tigris_grpc.server import DEFAULT_NAMESPACE
from tigris_grpc.server._tokens import TokenAuthority

KEY = "bench-preferences"
#: The stored value: about 500 bytes as compact JSON (the report gives the exact size).
VALUE: dict[str, Any] = {
    "theme": "dark",
    "locale": "en-GB",
    "timezone": "Europe/London",
    "notifications": {"email": True, "push": False, "digest": "weekly", "quiet_hours": [22, 7]},
    "dashboard": {"layout": "grid", "columns": 3, "widgets": ["usage", "billing", "alerts", "latency"]},
    "recent_projects": [{"id": f"proj-{i:04d}", "name": f"Project {i}", "pinned": i < 2} for i in range(3)],
    "feature_flags": {"beta_console": True, "new_editor": False, "dense_tables": True, "v": "2024-06"},
}
TIMEOUT = 10.0  # every variant sends the same deadline, as Tigris does by default
DEV_CLIENT = ("tigris-local", "tigris-local-secret")
TOKEN_ENV = "BENCH_TOKEN"
REST_SCRIPT = Path(__file__).with_name("_rest_baseline.py")
REST_KEY_ENV = "BENCH_REST_KEY"
MEMORY_THREADS = 4  # enough to keep the server busy, so the 200k calls take about a minute

SyncCall: TypeAlias = Callable[[], object]
AsyncCall: TypeAlias = Callable[[], Awaitable[object]]


# --- Measuring -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One variant's run in one round."""

    calls: int
    wall: float
    cpu: float
    p50_us: float
    p99_us: float
    #: CPU seconds the server process spent meanwhile (None when it is not ours to watch).
    server_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.calls / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.calls * 1e6

    @property
    def server_cpu_us(self) -> float | None:
        return None if self.server_cpu is None else self.server_cpu / self.calls * 1e6

    @classmethod
    def of(cls, latencies_ns: Sequence[list[int]], wall: float, cpu: float) -> Sample:
        merged = sorted(x for part in latencies_ns for x in part)
        if not merged:
            raise RuntimeError("no call completed: the duration is too short")

        def pct(q: float) -> float:
            return merged[min(len(merged) - 1, int(q * len(merged)))] / 1e3

        return cls(len(merged), wall, cpu, pct(0.50), pct(0.99))


def run_threads(call: SyncCall, threads: int, duration: float) -> Sample:
    """Call ``call`` on ``threads`` threads for ``duration`` seconds, timing each call."""
    latencies: list[list[int]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop_at = [0]
    errors: list[BaseException] = []

    def worker(out: list[int]) -> None:
        clock, append = time.perf_counter_ns, out.append
        barrier.wait()
        stop = stop_at[0]
        try:
            while (start := clock()) < stop:
                call()
                append(clock() - start)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(out,), daemon=True) for out in latencies]
    for thread in workers:
        thread.start()
    cpu0, wall0 = time.process_time(), time.perf_counter_ns()
    stop_at[0] = wall0 + int(duration * 1e9)
    barrier.wait()
    for thread in workers:
        thread.join()
    wall, cpu = (time.perf_counter_ns() - wall0) / 1e9, time.process_time() - cpu0
    if errors:
        raise errors[0]
    return Sample.of(latencies, wall, cpu)


async def run_tasks(call: AsyncCall, in_flight: int, duration: float) -> Sample:
    """Keep ``in_flight`` calls of ``call`` running for ``duration`` seconds, timing each call."""
    latencies: list[list[int]] = [[] for _ in range(in_flight)]
    clock = time.perf_counter_ns
    cpu0, wall0 = time.process_time(), clock()
    stop = wall0 + int(duration * 1e9)

    async def worker(out: list[int]) -> None:
        append = out.append
        while (start := clock()) < stop:
            await call()
            append(clock() - start)

    await asyncio.gather(*(worker(out) for out in latencies))
    return Sample.of(latencies, (clock() - wall0) / 1e9, time.process_time() - cpu0)


@dataclass
class Variant:
    """One way of making the call, and what it measured."""

    name: str
    in_flight: int
    run: Callable[[float], Sample]
    #: The process serving this variant's calls, when it is ours to watch.
    server_pid: int | None
    #: The variant this one is compared with (the raw stub of the same concurrency).
    baseline: Variant | None = None
    samples: list[Sample] = field(default_factory=list)

    def measure(self, duration: float) -> Sample:
        """One run, with the server's CPU time over it."""
        before = process_cpu(self.server_pid)
        sample = self.run(duration)
        after = process_cpu(self.server_pid)
        if before is None or after is None:
            return sample
        return dataclasses.replace(sample, server_cpu=after - before)

    def median(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples]
        return None if None in values else statistics.median(values)

    def ratios(self, other: Variant, attr: str = "rate") -> list[float]:
        """This variant's ``attr`` divided by ``other``'s in the same round, round by round."""
        assert len(self.samples) == len(other.samples)
        pairs = zip(self.samples, other.samples)
        return [getattr(a, attr) / getattr(b, attr) for a, b in pairs]

    def ratio(self, other: Variant, attr: str = "rate") -> float:
        """Median over rounds of this variant's ``attr`` divided by ``other``'s in the same round."""
        return float(statistics.median(self.ratios(other, attr)))


def median_interval(values: Sequence[float], resamples: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median of ``values`` (seeded: the same data give the same interval).

    On a shared machine single rounds scatter widely; the interval says how far the median of
    this run could be from the true ratio, so a target near its limit can be read for what it is.
    """
    pick = random.Random(0).choices  # noqa: S311 - resampling, not secrets
    medians = sorted(statistics.median(pick(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


# --- The clients -----------------------------------------------------------------------------------


def _rest_caller(address: str, token: str) -> tuple[requests.Session, SyncCall]:
    """What the REST SDK does for ``s.user.get_metadata(req)``, minus its dataclass-json layer.

    Per call: build the URL, JSON-encode the (empty) request body, POST with the bearer header,
    check the status and content type, decode the JSON answer into the REST models. The real SDK
    also marshals through dataclasses-json and wraps the session per call, so it costs more: this
    baseline is a lower bound of the REST SDK's cost, which makes our ratios against it conservative.
    """
    session = requests.Session()
    headers = {  # what Speakeasy-generated SDKs send
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json;q=1, application/json;q=0",
        "user-agent": "speakeasy-sdk/python bench",
    }
    base = f"http://{address}/v1/management/users/metadata/"

    def get_metadata() -> operations.ManagementGetUserMetadataResponse:
        url = f"{base}{quote(KEY, safe='')}/get"
        body = json.dumps({}, separators=(",", ":"))  # shared.GetUserMetadataRequest has no fields
        res = session.post(url, data=body, headers=headers, timeout=TIMEOUT)
        if res.status_code >= 400 or not res.headers.get("Content-Type", "").startswith("application/json"):
            raise RuntimeError(f"REST baseline answered {res.status_code}: {res.text[:200]}")
        data = json.loads(res.content)
        answer = operations.ManagementGetUserMetadataResponse(
            content_type=res.headers["Content-Type"], status_code=res.status_code, raw_response=res
        )
        answer.get_user_metadata_response = shared.GetUserMetadataResponse(
            metadata_key=data.get("metadataKey"),
            namespace_id=data.get("namespaceId"),
            user_id=data.get("userId"),
            value=data.get("value"),
        )
        return answer

    return session, get_metadata


def _rest_put(session: requests.Session, address: str, token: str) -> None:
    url = f"http://{address}/v1/management/users/metadata/{quote(KEY, safe='')}/update"
    res = session.post(url, json={"value": VALUE}, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    res.raise_for_status()


def fetch_token(address: str) -> str:
    """A token for the local server's development client."""
    with grpc.insecure_channel(address) as channel:
        request = auth_pb2.GetAccessTokenRequest(
            grant_type=auth_pb2.CLIENT_CREDENTIALS, client_id=DEV_CLIENT[0], client_secret=DEV_CLIENT[1]
        )
        return auth_pb2_grpc.AuthStub(channel).GetAccessToken(request, timeout=TIMEOUT).access_token


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system, all threads) used so far by process ``pid``, from /proc."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_variants(
    stack: ExitStack,
    loop: asyncio.AbstractEventLoop,
    grpc_server: tuple[str, int | None],
    token: str,
    *,
    rest_server: tuple[str, int | None],
    rest_token: str,
) -> Suite:
    """Every variant, ready to run; checks first that each reads the expected value."""
    (address, grpc_pid), (rest_address, rest_pid) = grpc_server, rest_server
    metadata = (("authorization", f"Bearer {token}"),)
    Request = management_pb2.GetUserMetadataRequest

    raw_channel = stack.enter_context(grpc.insecure_channel(address))
    raw_get = management_pb2_grpc.ManagementStub(raw_channel).GetUserMetadata
    client = stack.enter_context(Tigris(token, server_url=address, insecure=True))

    # Like our client, the raw variants build the request from the key on every call, and send
    # the same deadline that Tigris sends by default.
    def raw_call() -> object:
        return raw_get(Request(metadataKey=KEY), metadata=metadata, timeout=TIMEOUT)

    def raw_json_call() -> object:
        return json.loads(raw_get(Request(metadataKey=KEY), metadata=metadata, timeout=TIMEOUT).value)

    def tigris_call() -> object:
        return client.user.get_metadata(metadata_key=KEY)

    # grpc.aio channels belong to the loop they are made in.
    async def open_async() -> tuple[grpc.aio.Channel, AsyncTigris]:
        return grpc.aio.insecure_channel(address), AsyncTigris(token, server_url=address, insecure=True)

    aio_channel, async_client = loop.run_until_complete(open_async())
    stack.callback(lambda: loop.run_until_complete(_close_async(aio_channel, async_client)))
    aio_get = management_pb2_grpc.ManagementStub(aio_channel).GetUserMetadata

    def raw_aio_call() -> Awaitable[object]:
        return aio_get(Request(metadataKey=KEY), metadata=metadata, timeout=TIMEOUT)

    async def raw_aio_json_call() -> object:
        return json.loads((await aio_get(Request(metadataKey=KEY), metadata=metadata, timeout=TIMEOUT)).value)

    def async_tigris_call() -> Awaitable[object]:
        return async_client.user.get_metadata(metadata_key=KEY)

    session, rest_call = _rest_caller(rest_address, rest_token)
    stack.callback(session.close)
    _rest_put(session, rest_address, rest_token)

    # Check every variant reads the same value before timing anything.
    async_answer = loop.run_until_complete(async_client.user.get_metadata(metadata_key=KEY))
    read = {
        "raw stub": json.loads(raw_get(Request(metadataKey=KEY), metadata=metadata, timeout=TIMEOUT).value),
        "Tigris": _value(client.user.get_metadata(metadata_key=KEY)),
        "AsyncTigris": _value(async_answer),
        "REST": _value(rest_call()),
    }
    wrong = [name for name, value in read.items() if value != VALUE]
    if wrong:
        raise RuntimeError(f"these variants do not read the stored value back: {', '.join(wrong)}")

    def sync(call: SyncCall, threads: int) -> Callable[[float], Sample]:
        return lambda duration: run_threads(call, threads, duration)

    def aio(call: AsyncCall, in_flight: int) -> Callable[[float], Sample]:
        return lambda duration: loop.run_until_complete(run_tasks(call, in_flight, duration))

    # The "+ json.loads" rows are for diagnosis: the raw stub doing the one thing our answer does
    # that a bare stub call does not (decode the stored JSON), so the rest of our cost shows.
    raw1 = Variant("raw stub", 1, sync(raw_call, 1), grpc_pid)
    raw1_json = Variant("raw stub + json.loads", 1, sync(raw_json_call, 1), grpc_pid, raw1)
    raw8 = Variant("raw stub", 8, sync(raw_call, 8), grpc_pid)
    aio64 = Variant("raw aio stub", 64, aio(raw_aio_call, 64), grpc_pid)
    aio64_json = Variant("raw aio stub + json.loads", 64, aio(raw_aio_json_call, 64), grpc_pid, aio64)
    aio256 = Variant("raw aio stub", 256, aio(raw_aio_call, 256), grpc_pid)
    return Suite(
        raw1=raw1,
        raw1_json=raw1_json,
        tigris1=Variant("Tigris", 1, sync(tigris_call, 1), grpc_pid, raw1),
        raw8=raw8,
        tigris8=Variant("Tigris", 8, sync(tigris_call, 8), grpc_pid, raw8),
        aio64=aio64,
        aio64_json=aio64_json,
        async64=Variant("AsyncTigris", 64, aio(async_tigris_call, 64), grpc_pid, aio64),
        aio256=aio256,
        async256=Variant("AsyncTigris", 256, aio(async_tigris_call, 256), grpc_pid, aio256),
        rest=Variant("REST (requests + JSON)", 1, sync(rest_call, 1), rest_pid),
    )


@dataclass(frozen=True)
class Suite:
    """Every variant, by role."""

    raw1: Variant
    raw1_json: Variant
    tigris1: Variant
    raw8: Variant
    tigris8: Variant
    aio64: Variant
    aio64_json: Variant
    async64: Variant
    aio256: Variant
    async256: Variant
    rest: Variant

    @property
    def rows(self) -> list[Variant]:
        """The variants in the order of the table."""
        return [
            self.raw1, self.raw1_json, self.tigris1, self.raw8, self.tigris8, self.aio64, self.aio64_json,
            self.async64, self.aio256, self.async256, self.rest,
        ]  # fmt: skip

    @property
    def groups(self) -> list[list[Variant]]:
        """The variants that run back to back in a round, so their per-round ratios are fair."""
        return [
            [self.raw1, self.raw1_json, self.tigris1, self.rest],
            [self.raw8, self.tigris8],
            [self.aio64, self.aio64_json, self.async64],
            [self.aio256, self.async256],
        ]


def _value(answer: object) -> Any:
    body = getattr(answer, "get_user_metadata_response", None)
    return None if body is None else body.value


async def _close_async(channel: grpc.aio.Channel, client: AsyncTigris) -> None:
    await client.close()
    await channel.close()


def run_rounds(groups: list[list[Variant]], rounds: int, duration: float, warmup: float) -> None:
    """Warm every variant up, then alternate them for ``rounds`` rounds."""
    for group in groups:
        for variant in group:
            variant.measure(warmup)
    for index in range(rounds):
        for group in groups:
            # Rotate the order within a group, so that no variant always follows the same one.
            shift = index % len(group)
            for variant in group[shift:] + group[:shift]:
                gc.collect()
                variant.samples.append(variant.measure(duration))
        print(f"  round {index + 1}/{rounds} done", file=sys.stderr, flush=True)


# --- Memory and import time ------------------------------------------------------------------------


def rss_kib() -> int | None:
    """This process's resident set size in KiB (Linux), or None where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_child(address: str, first: int, total: int, threads: int) -> None:
    """Runs in a fresh process: ``total`` calls on one Tigris client, printing RSS readings as JSON."""
    token = os.environ[TOKEN_ENV]
    readings: dict[str, int | None] = {}
    with Tigris(token, server_url=address, insecure=True) as client:
        client.user.get_metadata(metadata_key=KEY)
        readings["start"] = rss_kib()

        def calls(count: int) -> None:
            share = [count // threads + (i < count % threads) for i in range(threads)]

            def worker(n: int) -> None:
                for _ in range(n):
                    client.user.get_metadata(metadata_key=KEY)

            workers = [threading.Thread(target=worker, args=(n,)) for n in share]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
            gc.collect()

        calls(first - 1)
        readings["first"] = rss_kib()
        calls(total - first)
        readings["total"] = rss_kib()
    print(json.dumps(readings), flush=True)


@dataclass(frozen=True)
class Memory:
    """RSS readings of the client process, in KiB."""

    first_calls: int
    total_calls: int
    start: int | None
    first: int | None
    total: int | None
    seconds: float

    @property
    def growth_mib(self) -> float | None:
        if self.first is None or self.total is None:
            return None
        return (self.total - self.first) / 1024


def measure_memory(address: str, token: str, first: int, total: int, threads: int) -> Memory:
    started = time.perf_counter()
    argv = [sys.executable, __file__, "--memory-child", address, "--memory-calls", f"{first},{total},{threads}"]
    env = {**os.environ, TOKEN_ENV: token}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"memory run failed:\n{result.stderr}")
    readings = json.loads(result.stdout.strip().splitlines()[-1])
    return Memory(first, total, readings["start"], readings["first"], readings["total"], time.perf_counter() - started)


@dataclass(frozen=True)
class ImportTime:
    """``import tigris_grpc`` in a fresh interpreter, in milliseconds (medians)."""

    wall_ms: float
    """What the import adds to a bare interpreter's start, measured from outside."""
    reported_ms: float
    """The total of ``-X importtime`` (which slows imports down a little itself)."""
    by_package_ms: dict[str, float]
    """``-X importtime`` self times summed per group: grpc, protobuf, tigris_grpc, the rest."""


def _run_wall(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - started) * 1000


def _group(module: str) -> str:
    for prefix, name in (("grpc", "grpc"), ("google", "protobuf"), ("tigris_grpc", "tigris_grpc")):
        if module == prefix or module.startswith(f"{prefix}."):
            return name
    return "other (stdlib, ...)"


def _importtime(code: str) -> dict[str, int]:
    """Self microseconds per module group from ``python -X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    groups: dict[str, int] = {}
    for line in result.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[0].isdigit():
            group = _group(parts[2])
            groups[group] = groups.get(group, 0) + int(parts[0])
    return groups


def measure_import(runs: int) -> ImportTime:
    _run_wall("import tigris_grpc")  # warm the page cache and the bytecode cache
    wall = [_run_wall("import tigris_grpc") - _run_wall("pass") for _ in range(runs)]
    reports = [_importtime("import tigris_grpc") for _ in range(runs)]
    names = sorted({name for report in reports for name in report})
    by_package = {name: statistics.median(r.get(name, 0) for r in reports) / 1000 for name in names}
    total = statistics.median(sum(r.values()) for r in reports) / 1000
    return ImportTime(statistics.median(wall), total, by_package)


# --- Processes -------------------------------------------------------------------------------------


@contextmanager
def child_server(
    argv: list[str], env: dict[str, str] | None = None, wait: float = 30.0
) -> Iterator[tuple[str, int | None]]:
    """Start a server process that prints ``listening on HOST:PORT``; yield its address and pid; stop it."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], wait)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"{' '.join(argv)} did not start (exit status {proc.poll()}): {line!r}")
        yield line.split()[-1], proc.pid
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# --- CPU placement -------------------------------------------------------------------------------

# Runs argv[1:] with the CPU affinity that was set before the exec (affinity survives execve).
_PINNED_EXEC = "import os, sys; os.sched_setaffinity(0, {cpus!r}); os.execv(sys.argv[1], sys.argv[1:])"


def cpu_split() -> tuple[set[int], set[int]] | None:
    """The CPUs for this process (the clients) and for the servers: the last one for the servers."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


def _cpu_list(cpus: set[int]) -> str:
    return ", ".join(str(cpu) for cpu in sorted(cpus))


def pin_this_process(cpus: set[int]) -> None:
    """Every thread of this process onto ``cpus``; threads started later inherit it."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            os.sched_setaffinity(int(tid), cpus)


def pinned(argv: list[str], cpus: set[int] | None) -> list[str]:
    """``argv`` run on ``cpus`` (as it is when ``cpus`` is None)."""
    if cpus is None:
        return argv
    return [sys.executable, "-c", _PINNED_EXEC.format(cpus=sorted(cpus)), *argv]


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, which stops the servers


# --- Report ----------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> str:
    return (
        f"{os.cpu_count()} cores ({_cpu_model()}), {platform.system()} {platform.machine()}; "
        f"{platform.python_implementation()} {platform.python_version()}, grpcio {grpc.__version__}, "
        f"protobuf {protobuf_version} ({api_implementation.Type()}), requests {requests.__version__}, "
        f"tigris-grpc {__version__}"
    )


@dataclass(frozen=True)
class Target:
    label: str
    measured: float | None
    limit: float
    at_least: bool
    unit: str = "x"
    #: The 95% interval of a ratio's median over rounds (None for a single reading).
    interval: tuple[float, float] | None = None

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "n/a"
        ok = self.measured >= self.limit if self.at_least else self.measured <= self.limit
        return "PASS" if ok else "FAIL"


def targets(suite: Suite, memory: Memory) -> list[Target]:
    """The issue's targets: throughput ratios (medians of per-round ratios) and RSS growth."""

    def ratio(label: str, ours: Variant, other: Variant, limit: float) -> Target:
        ratios = ours.ratios(other)
        return Target(label, statistics.median(ratios), limit, True, interval=median_interval(ratios))

    return [
        ratio("Tigris / raw stub, 1 thread", suite.tigris1, suite.raw1, 0.95),
        ratio("Tigris / raw stub, 8 threads", suite.tigris8, suite.raw8, 0.95),
        ratio("AsyncTigris / raw aio stub, 64 in flight", suite.async64, suite.aio64, 0.95),
        ratio("AsyncTigris / raw aio stub, 256 in flight", suite.async256, suite.aio256, 0.95),
        ratio("Tigris 1 thread / REST 1 thread", suite.tigris1, suite.rest, 2.0),
        ratio("AsyncTigris 64 in flight / REST 1 thread", suite.async64, suite.rest, 5.0),
        Target(
            f"RSS growth, {memory.first_calls:,} -> {memory.total_calls:,} calls", memory.growth_mib, 5.0, False, " MiB"
        ),
    ]


def render(
    suite: Suite,
    memory: Memory,
    imports: ImportTime,
    settings: str,
    server: str,
) -> tuple[str, list[Target]]:
    """The Markdown report, and the targets it checked."""
    rest = suite.rest
    value_bytes = len(json.dumps(VALUE, separators=(",", ":")))
    lines = [
        f"### GetUserMetadata of a {value_bytes}-byte JSON value",
        "",
        f"- Machine: {machine_info()}",
        f"- Server: {server}",
        f"- Method: {settings}",
        "",
        "| client | in flight | calls/s | client CPU µs/call | p50 µs | p99 µs | server CPU µs/call "
        "| calls/s vs raw | CPU vs raw | calls/s vs REST |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f}"

    for variant in suite.rows:
        base = variant.baseline
        rows = [
            variant.name,
            str(variant.in_flight),
            number(variant.median("rate")),
            number(variant.median("cpu_us")),
            number(variant.median("p50_us")),
            number(variant.median("p99_us")),
            number(variant.median("server_cpu_us")),
            f"{variant.ratio(base):.2f}" if base else "",
            f"{variant.ratio(base, 'cpu_us'):.2f}" if base else "",
            f"{variant.ratio(rest):.1f}x" if variant is not rest else "",
        ]
        lines.append("| " + " | ".join(rows) + " |")
    lines += [
        "",
        "- The `+ json.loads` rows decode the stored value as our answer does, which a bare stub call "
        "does not; against them (same rounds), calls/s of Tigris (1 thread): "
        f"{suite.tigris1.ratio(suite.raw1_json):.2f}, CPU {suite.tigris1.ratio(suite.raw1_json, 'cpu_us'):.2f}; "
        f"AsyncTigris (64 in flight): {suite.async64.ratio(suite.aio64_json):.2f}, "
        f"CPU {suite.async64.ratio(suite.aio64_json, 'cpu_us'):.2f}.",
    ]
    growth = memory.growth_mib
    mib = "n/a" if memory.first is None else f"{memory.first / 1024:.1f} MiB"
    mib_total = "n/a" if memory.total is None else f"{memory.total / 1024:.1f} MiB"
    lines += [
        f"- Memory (one `Tigris` client shared by {MEMORY_THREADS} threads, fresh process, "
        f"{memory.seconds:.0f} s): RSS {mib} after "
        f"{memory.first_calls:,} calls, {mib_total} after {memory.total_calls:,}: "
        + ("growth n/a (no /proc)" if growth is None else f"growth {growth:+.2f} MiB"),
        f"- Import: `python -c 'import tigris_grpc'` takes {imports.wall_ms:.0f} ms more than `python -c pass` "
        f"(import and exit); `-X importtime` reports {imports.reported_ms:.0f} ms of imports: "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in sorted(imports.by_package_ms.items(), key=lambda i: -i[1])),
        "",
        "| target | measured | 95% interval | limit | result |",
        "|---|--:|--:|--:|---|",
    ]
    checks = targets(suite, memory)
    for check in checks:
        measured = "n/a" if check.measured is None else f"{check.measured:.2f}{check.unit}"
        interval = "" if check.interval is None else "{:.2f} - {:.2f}".format(*check.interval)
        limit = f"{'>=' if check.at_least else '<='} {check.limit:g}{check.unit}"
        lines.append(f"| {check.label} | {measured} | {interval} | {limit} | {check.verdict} |")
    return "\n".join(lines) + "\n", checks


# --- Main ------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="scale every duration and count down (smoke run)")
    parser.add_argument("--target", metavar="HOST:PORT", help="use this plaintext server instead of starting one")
    parser.add_argument("--token", help="bearer token for --target (default: the local development client's)")
    parser.add_argument("--rounds", type=int, help="rounds of all variants (default: 32; --quick: 3)")
    parser.add_argument("--duration", type=float, help="seconds per variant per round (default: 0.3; --quick: 0.25)")
    parser.add_argument("--markdown", metavar="PATH", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the servers on the last CPU and the clients on the others (default; --no-pin: anywhere)",
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    parser.add_argument("--memory-child", metavar="HOST:PORT", help=argparse.SUPPRESS)
    parser.add_argument("--memory-calls", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.memory_child:
        first, total, threads = (int(x) for x in args.memory_calls.split(","))
        memory_child(args.memory_child, first, total, threads)
        return 0
    # Many short rounds rather than a few long ones: the machine's drift then falls on both sides
    # of each comparison, and the median over rounds has more rounds to settle on.
    rounds = args.rounds or (3 if args.quick else 32)
    duration = args.duration or (0.25 if args.quick else 0.3)
    warmup = min(duration, 0.5)
    first_calls, total_calls = (1_000, 20_000) if args.quick else (10_000, 200_000)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    split = cpu_split() if args.pin else None
    server_cpus = None
    placement = "client and servers on any CPU"
    if split is not None:
        client_cpus, server_cpus = split
        pin_this_process(client_cpus)
        servers = "the REST server" if args.target else "servers"
        placement = f"clients on CPU {_cpu_list(client_cpus)}, {servers} on CPU {_cpu_list(server_cpus)}"

    with ExitStack() as stack:
        grpc_server: tuple[str, int | None]
        if args.target:
            grpc_server, server = (args.target, None), f"`{args.target}` (given with --target)"
        else:
            argv_server = [sys.executable, "-m", "tigris_grpc.server", "--host", "127.0.0.1", "--port", "0"]
            grpc_server = stack.enter_context(child_server(pinned(argv_server, server_cpus)))
            server = "`python -m tigris_grpc.server` in its own process"
        address = grpc_server[0]
        token = args.token or os.environ.get("TIGRIS_TOKEN") or fetch_token(address)
        with Tigris(token, server_url=address, insecure=True) as setup:
            user = setup.user.update_metadata(metadata_key=KEY, value=VALUE).update_user_metadata_response
        if user is None or not user.user_id:
            raise RuntimeError("the server's answer to UpdateUserMetadata names no user")
        # The REST endpoint verifies tokens as the local server does, with a key of its own.
        rest_key = secrets.token_bytes(32)
        rest_token = TokenAuthority(rest_key).issue(user.user_id, DEFAULT_NAMESPACE, 24 * 3600)
        rest_env = {**os.environ, REST_KEY_ENV: rest_key.hex()}
        argv_rest = pinned([sys.executable, str(REST_SCRIPT), "--port", "0"], server_cpus)
        rest_server = stack.enter_context(child_server(argv_rest, rest_env))

        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        suite = build_variants(stack, loop, grpc_server, token, rest_server=rest_server, rest_token=rest_token)
        print(f"benchmarking: {rounds} rounds x {duration} s per variant ...", file=sys.stderr, flush=True)
        run_rounds(suite.groups, rounds, duration, warmup)
        print(f"memory: {total_calls:,} calls on one client ...", file=sys.stderr, flush=True)
        memory = measure_memory(address, token, first_calls, total_calls, threads=MEMORY_THREADS)
    imports = measure_import(3 if args.quick else 7)

    settings = (
        f"{rounds} round{'s' if rounds > 1 else ''}, {duration:g} s per variant per round after a {warmup:g} s "
        "warm-up, variants alternating; medians over rounds; ratios are medians of per-round ratios"
        + (" (--quick: smoke run, not for publishing)" if args.quick else "")
    )
    report, checks = render(suite, memory, imports, settings, f"{server}; {placement}")
    print(report)
    if args.markdown:
        args.markdown.write_text(report, encoding="utf-8")
    return 1 if args.strict and any(c.verdict == "FAIL" for c in checks) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
