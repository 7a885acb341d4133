"""Training hosts die with the ``run`` process, even a ``kill -9``ed one, and the run's lock
holds while any host lives (so a ``--resume`` cannot start a second set of trainers)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)

# The `run` process in small: take the run lock, start two hosts through run_hosts, wait.
RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from local_mode import files, hosts

    run_dir, host_code = Path(sys.argv[1]), sys.argv[2]
    with files.exclusive(run_dir, "run test") as lock:
        environments = {name: {"HOST_NAME": name} for name in hosts.host_names(2)}
        command = [sys.executable, "-c", host_code]
        hosts.run_hosts(command, environments, cwd=run_dir, log_dir=run_dir, keep_open=lock)
    """
)
# A host: say its pid, then train "forever".
HOST = textwrap.dedent(
    """
    import os, pathlib, time
    pathlib.Path(os.environ["HOST_NAME"] + ".pid").write_text(str(os.getpid()))
    time.sleep(120)
    """
)
# A host that outlives its parent (as on a system without the parent-death signal): it clears
# the signal, then ends a few seconds after the parent was killed.
LINGERING_HOST = textwrap.dedent(
    """
    import ctypes, os, pathlib, time
    ctypes.CDLL(None).prctl(1, 0)
    pathlib.Path(os.environ["HOST_NAME"] + ".pid").write_text(str(os.getpid()))
    while os.getppid() != 1 and not pathlib.Path("orphaned").exists():
        time.sleep(0.05)
    time.sleep(3)
    """
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def locked(run_dir: Path) -> bool:
    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def start_and_kill(tmp_path: Path, host_code: str) -> list[int]:
    """Start the runner, wait for both hosts, SIGKILL the runner; return the hosts' pids."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path), host_code], env=env)
    pid_files = [tmp_path / "127.0.0.1.pid", tmp_path / "127.0.0.2.pid"]
    deadline = time.monotonic() + 60
    while not all(p.is_file() and p.read_text() for p in pid_files):
        assert runner.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    assert locked(tmp_path)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    return [int(p.read_text()) for p in pid_files]


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_hosts_die_with_a_killed_run(tmp_path):
    pids = start_and_kill(tmp_path, HOST)
    try:
        assert wait_until(lambda: not any(alive(pid) for pid in pids), 10), "orphaned hosts"
        assert not locked(tmp_path)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_run_lock_holds_while_a_host_lives(tmp_path):
    pids = start_and_kill(tmp_path, LINGERING_HOST)
    try:
        (tmp_path / "orphaned").touch()
        assert all(alive(pid) for pid in pids)
        assert locked(tmp_path)  # the runner is gone, its hosts are not: the run stays locked
        assert wait_until(lambda: not any(alive(pid) for pid in pids), 20)
        assert not locked(tmp_path)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
