"""``madoguchi worker`` as ECS runs it: it keeps polling until SIGTERM, then stops cleanly and at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.infra.helpers import environment_without_settings

pytestmark = pytest.mark.slow


def test_worker_stops_cleanly_on_sigterm_while_waiting(migrated_data_dir: Path) -> None:
    env = environment_without_settings(
        MADOGUCHI_DATA_DIR=str(migrated_data_dir),
        # Far longer than the test waits: the worker must be woken by SIGTERM, not by its next poll.
        MADOGUCHI_WORKER_POLL_SECONDS="300",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "madoguchi.cli", "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output = ""
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while "outbox worker started" not in output:
            line = process.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{output}")
            output += line
        time.sleep(1)  # let it finish its first pass and wait for the next poll
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=15)
        output += rest
        stopped_after = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "outbox worker stopped" in output
    assert "Traceback" not in output
    assert stopped_after < 5, f"took {stopped_after:.1f} s to stop"
