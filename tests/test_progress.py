"""Long commands count as they go on a terminal, and stay quiet when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from lamed.core.events import Event


def _export(redis_url: str, tmp_path, stderr_to_terminal: bool) -> str:
    env = {**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_CONFIG": str(tmp_path / "none.json")}
    command = [sys.executable, "-m", "lamed", "export", "-o", str(tmp_path / "export.json")]
    if not stderr_to_terminal:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return done.stderr
    leader, follower = pty.openpty()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=follower, check=True)
    os.close(follower)
    seen = b""
    try:
        while chunk := os.read(leader, 4096):
            seen += chunk
    except OSError:  # the terminal's other end closed
        pass
    os.close(leader)
    assert done.returncode == 0
    return seen.decode()


def test_export_counts_on_a_terminal_and_is_quiet_when_piped(store, redis_url, tmp_path):
    store.track_many([Event("ns", f"e{n}", "A", "participate", "u") for n in range(3)])
    assert "3 experiments exported" in _export(redis_url, tmp_path, stderr_to_terminal=True)
    assert _export(redis_url, tmp_path, stderr_to_terminal=False) == ""
