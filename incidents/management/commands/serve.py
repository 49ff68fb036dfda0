"""Start the whole console: daphne (HTTP + WebSockets), the django-q2 worker and, unless
CLEARA_DEMO=0, the live simulated event stream. Ctrl-C or SIGTERM stops all of them.

Stopping: every child gets SIGTERM (on Ctrl-C the terminal has already sent them SIGINT too) and
has until STOP_GRACE seconds after the signal to exit; whatever is still running then is killed,
so the whole group is gone within 10 s.
"""
import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

STOP_GRACE = 6.0


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop(signum)


class Command(BaseCommand):
    help = "Run the console (daphne), the task worker and the demo event stream together."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--no-demo", action="store_true", help="do not start the simulated event stream")

    def handle(self, *args, port: int, host: str, no_demo: bool, **options):
        manage = [sys.executable, "manage.py"]
        commands = {
            "web": [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "cleara.asgi:application"],
            "worker": [*manage, "qcluster"],
        }
        if not no_demo and os.environ.get("CLEARA_DEMO", "1") != "0":
            commands["demo"] = [*manage, "simulate", "--live"]
        # SIGTERM (a service manager, `kill`) stops the children like Ctrl-C does, instead of
        # ending this process alone and leaving them running.
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        procs = {}
        try:
            procs = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
            self.stdout.write(self.style.SUCCESS(f"Cleara is up: http://{host}:{port}/  ({', '.join(procs)} running; Ctrl-C stops)"))
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

    def _stop(self, procs: dict) -> None:
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within {STOP_GRACE:g} s; killed")
                proc.kill()
                proc.wait()
