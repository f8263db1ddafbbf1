#!/usr/bin/env python3
"""`make demo`: start the local Tigris server, run the quickstart examples against it, stop it.

The server runs as its own process on a free port, exactly as `python -m tigris_grpc.server`
would for a developer; the example finds it through the same TIGRIS_* variables a real
deployment uses. The server is stopped however the example ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Before grpc is imported: on Python 3.9 subprocess forks, and grpc's fork handlers can abort the
# child before it execs (grpc issue 43055). Nothing here forks a child that uses grpc.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from tigris_grpc.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ROOT = Path(__file__).resolve().parent.parent
READY_PREFIX = "listening on "


def main() -> int:
    server = subprocess.Popen(
        [sys.executable, "-m", "tigris_grpc.server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        if not line.startswith(READY_PREFIX):
            print(f"the local server did not start (it printed {line!r})", file=sys.stderr)
            return 1
        address = line.removeprefix(READY_PREFIX)
        print(f"local Tigris server {address} (pid {server.pid})")
        env = {
            **os.environ,
            "TIGRIS_URI": address,
            "TIGRIS_CLIENT_ID": DEFAULT_CLIENT_ID,
            "TIGRIS_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        }
        env.pop("TIGRIS_TOKEN", None)
        for example in ("quickstart.py", "quickstart_async.py"):
            print(f"--- examples/{example}")
            code = subprocess.run([sys.executable, str(ROOT / "examples" / example)], env=env, check=False).returncode
            if code:
                return code
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        print("local Tigris server stopped")


if __name__ == "__main__":
    raise SystemExit(main())
