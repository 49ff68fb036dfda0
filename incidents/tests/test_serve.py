"""`manage.py serve` (what `make run` starts): Ctrl-C and SIGTERM each stop every process it
started, grandchildren included, within 10 s.

The command runs for real (daphne, the ingest tier, the django-q2 cluster and the live demo stream, against the
test database), in a session of its own as a terminal would run it; Ctrl-C is SIGINT to that
foreground group, SIGTERM goes to the command alone, as a service manager sends it. Processes are
read from /proc, so the check sees every descendant, not only the children the command knows.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cleara.tests.outage import free_port
from incidents.tests.browser import ARTIFACTS, _database_url

BASE_DIR = Path(__file__).resolve().parents[2]
STOP_LIMIT = 10.0

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    out, queue = set(), [root]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in out:
                out.add(child)
                queue.append(child)
    return out


def alive(pids: set[int]) -> set[int]:
    """The processes still running (a zombie has stopped; only its reaping is left)."""
    return {pid for pid in pids if (stat := _stat(pid)) is not None and stat[0] not in ("Z", "X")}


def serve_started(port: int, ingest_port: int, log) -> subprocess.Popen:
    from django.db import connection

    env = {**os.environ, "DATABASE_URL": _database_url(connection.settings_dict), "CLEARA_DEMO": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), "--ingest-port", str(ingest_port)], cwd=BASE_DIR,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    for up in (port, ingest_port):  # the console (daphne) and the ingest tier (uvicorn)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{up}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"serve did not come up; see {log.name}")
            time.sleep(0.5)
    # The worker forks its own processes after it starts: wait until they are there.
    deadline = time.monotonic() + 60
    while len(descendants(proc.pid)) < 5 and time.monotonic() < deadline:
        time.sleep(0.5)
    return proc


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_serve_stops_every_process_it_started_within_ten_seconds(how, transactional_db):
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / f"serve-{how}.log", "w") as log:
        port = free_port()
        proc = serve_started(port, free_port(taken=[port]), log)
        started = descendants(proc.pid)
        names = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace") for pid in started}
        assert any("daphne" in n for n in names) and any("uvicorn" in n for n in names), names
        assert any("qcluster" in n for n in names) and any("simulate" in n for n in names), names
        assert len(started) >= 6, names  # daphne, the ingest tier, the demo stream, qcluster and the processes it forks
        # Each child leads a process group of its own, so Ctrl-C at the terminal reaches serve alone.
        assert all(os.getpgid(pid) != proc.pid for pid in started)

        t0 = time.monotonic()
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_LIMIT)
        except subprocess.TimeoutExpired:
            pass
        while alive(started | {proc.pid}) and time.monotonic() - t0 < STOP_LIMIT:
            time.sleep(0.1)
        left = alive(started | {proc.pid})
        for pid in left:  # leave nothing behind for the next test, whatever the outcome
            os.kill(pid, signal.SIGKILL)
        assert not left, f"still running {time.monotonic() - t0:.1f} s after {how}: {sorted(left)}"
        assert proc.poll() is not None
