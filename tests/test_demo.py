"""`make demo` (scripts/demo.py) runs the quickstart against a local server and cleans up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_the_quickstart_end_to_end() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "healthy: True" in out
    assert "before insert -> value None" in out
    assert "value {'mode': 'dark', 'font': 14}" in out
    assert "update then get" in out
    assert "{'mode': 'light', 'font': 16}" in out
    assert "get a missing key -> value None" in out
    assert "InternalServerError (code INTERNAL, status 500)" in out
    assert "100 concurrent updates, then gets -> 4950 (expected 4950)" in out
    assert out.rstrip().endswith("local Tigris server stopped")
    assert "Traceback" not in proc.stderr
    # The development secret is passed through the environment and never printed.
    assert "tigris-local-secret" not in out + proc.stderr
