"""Start the whole console: daphne (HTTP + WebSockets), the django-q2 worker and, unless
CLEARA_DEMO=0, the live simulated event stream. Ctrl-C stops all of them."""
import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


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
        procs = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Cleara is up: http://{host}:{port}/  ({', '.join(procs)} running; Ctrl-C stops)"))
        try:
            while True:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping the rest")
                        return
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            for proc in procs.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
