"""Start the whole console: daphne (HTTP + WebSockets) on --port, the ingest tier (uvicorn, the same
application, for senders: POST /api/v1/events and the Alertmanager webhook) on --ingest-port, the
django-q2 worker, with Redis
(INGEST_ASYNC) INGEST_WORKERS ingest workers (`manage.py ingest_worker`: anomaly detection and
correlation of what daphne stored) and, unless CLEARA_DEMO=0, the live simulated event stream.
Ctrl-C or SIGTERM stops all of them.

Each child runs in its own process group, so a Ctrl-C at the terminal (SIGINT to the foreground
group) reaches this process alone, and stopping is one path for both signals: every child gets
SIGTERM (the worker then stops the sentinel, monitor and workers it forked), and whatever is
left in a child's group STOP_GRACE seconds after the signal gets SIGKILL, so everything is gone
within 10 s. Without separate groups the children would see SIGINT and
SIGTERM in an order that depends on how the stop was asked for, and a grandchild of the worker
could outlive its parent.
"""
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_GRACE = 6.0


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop(signum)


class Command(BaseCommand):
    help = "Run the console (daphne), the ingest tier (uvicorn), the task worker and the demo event stream together."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--ingest-port", type=int, default=int(os.environ["INGEST_PORT"]) if os.environ.get("INGEST_PORT") else None,
                            help="the ingest tier's port (INGEST_PORT; default: --port + 1)")
        parser.add_argument("--no-demo", action="store_true", help="do not start the simulated event stream")

    def handle(self, *args, port: int, host: str, ingest_port: int | None, no_demo: bool, **options):
        manage = [sys.executable, "manage.py"]
        ingest_port = ingest_port or port + 1
        # The web processes as production starts them (scripts/entrypoint): daphne for the console,
        # uvicorn for ingest (docs/ingest.md, "The ingest tier"). Both serve the whole application;
        # without a proxy in front, senders choose the ingest tier by its port.
        entry = str(settings.BASE_DIR / "scripts" / "entrypoint")
        commands = {
            "web": [entry, "web"],
            "ingest-web": [entry, "ingest-web"],
            "worker": [*manage, "qcluster"],
        }
        envs = {"web": {"PORT": str(port)}, "ingest-web": {"PORT": str(ingest_port)}}
        if settings.INGEST_ASYNC:
            for i in range(settings.INGEST_WORKERS):
                commands[f"ingest{i + 1}"] = [*manage, "ingest_worker"]
        if not no_demo and os.environ.get("CLEARA_DEMO", "1") != "0":
            commands["demo"] = [*manage, "simulate", "--live"]
        # SIGTERM (a service manager, `kill`) stops the children like Ctrl-C does, instead of
        # ending this process alone and leaving them running.
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        procs: dict[str, subprocess.Popen] = {}
        try:
            for name, cmd in commands.items():  # one by one: a stop during the loop stops those started
                env = {**os.environ, "HOST": host, "PYTHON": sys.executable, **envs[name]} if name in envs else None
                procs[name] = subprocess.Popen(cmd, process_group=0, env=env)
            self.stdout.write(self.style.SUCCESS(
                f"Cleara is up: http://{host}:{port}/  ingest: http://{host}:{ingest_port}/api/v1/events  "
                f"({', '.join(procs)} running; Ctrl-C stops)"))
            while True:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping the rest")
                        return
                time.sleep(0.5)
        except _Stop:
            pass
        finally:
            # A second Ctrl-C while stopping changes nothing: the deadline holds either way.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
            self._stop(procs)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, procs: dict[str, subprocess.Popen]) -> None:
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs.values():
            proc.terminate()  # the leader: the worker stops its own processes in order
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within {STOP_GRACE:g} s; killed")
        while time.monotonic() < deadline and any(_group_alive(proc.pid) for proc in procs.values()):
            time.sleep(0.1)  # the worker's processes leave a moment after it
        for proc in procs.values():
            _signal_group(proc.pid, signal.SIGKILL)  # whatever is left of the group
            proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # the whole group has gone already


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
