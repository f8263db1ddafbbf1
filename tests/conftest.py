"""Suite-wide settings that depend on the Python version."""

from __future__ import annotations

import sys

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if sys.version_info < (3, 10):
        # On 3.9, asyncio.get_event_loop() creates a loop when none is set; pytest-asyncio calls
        # it around every async test and never closes that loop, and asyncio.run() in a sync test
        # later drops it. Its collection is reported as unraisable: the loop and its self-pipe.
        # (A filter's fields are colon-separated, so "." stands for the colon in the message.)
        for message in (
            "Exception ignored in. <socket.socket fd=[0-9]+, family=AddressFamily.AF_UNIX",
            "Exception ignored in. <function BaseEventLoop.__del__",
        ):
            config.addinivalue_line("filterwarnings", f"ignore:{message}:pytest.PytestUnraisableExceptionWarning")
