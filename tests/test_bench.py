"""`make bench` keeps working: a minimal run of scripts/bench.py produces its report and cleans up.

This checks that the benchmark runs, not how fast anything is: figures come from `make bench`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_bench_quick_run_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--rounds", "1", "--markdown", str(report)],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = report.read_text()
    for variant in ("| raw stub | 1 |", "| Tigris | 1 |", "| Tigris | 8 |", "| AsyncTigris | 64 |", "| REST"):
        assert variant in text
    for target in ("Tigris / raw stub, 1 thread", "RSS growth"):
        assert target in text
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) >= 2:  # the servers get the last CPU, the clients the others
        assert f"servers on CPU {cpus[-1]}" in text
    assert text == proc.stdout.strip() + "\n" or text.strip() in proc.stdout
