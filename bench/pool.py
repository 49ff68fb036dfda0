"""PostgreSQL connections under concurrent clients: persistent connections per thread (main before
the pool: DATABASE_POOL=0, DATABASE_CONN_MAX_AGE=60) against the connection pool (the defaults).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres nice -n 10 .venv/bin/python bench/pool.py \
        [--clients 16] [--seconds 60] [--db-connection-limit 30] [--only before|after]

For each configuration: a fresh PostgreSQL database (`cleara_bench_pool_<pid>`, dropped
afterwards), `manage.py serve --no-demo` (daphne, the ingest tier, the django-q2 worker, CLEARA_DEMO=0,
the production-like setup of `make run`), and `--clients` threads posting one event per request over
keep-alive connections for `--seconds` to the ingest tier's port (`--to web`: daphne's). Once a second the bench reads pg_stat_activity for the
bench database and attributes each backend to the process holding its client socket (/proc).
Prints the answers by status (5xx must be 0), the peak of connections held by the app, by
process, and the bound (DATABASE_POOL_MAX_SIZE x processes that connected).

The app connects as a role of its own (created and dropped by the bench) with a connection limit
(`CREATE ROLE ... CONNECTION LIMIT`, 30 by default) so that the "before" run, which opens a
connection per request thread, cannot take the shared server's max_connections away from everyone
else; without the cap it climbs to the server's limit (issue 11: 98 connections, 500s).
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import _admin_connect, bench_database  # noqa: E402
from cleara.tests.outage import descendants, free_port, socket_owners  # noqa: E402

CONFIGS = {
    "before": {"DATABASE_POOL": "0", "DATABASE_CONN_MAX_AGE": "60"},
    "after": {},  # the defaults: the pool
}


def wait_up(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server on port {port} did not come up")


def process_name(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(c.decode(errors="replace") for c in cmd if c)
    if "daphne" in text:
        return "web (daphne)"
    if "uvicorn" in text:
        return "ingest tier (uvicorn)"
    if "qcluster" in text:
        return "worker (qcluster)"
    return text[:40]


class Sampler(threading.Thread):
    def __init__(self, url: str, db: str, leader: int):
        super().__init__(daemon=True)
        self.url, self.db, self.leader = url, db, leader
        self.peak, self.peak_by_pid, self.samples = 0, Counter(), []
        self.stop = threading.Event()

    def run(self) -> None:
        with _admin_connect(self.url) as conn:
            while not self.stop.is_set():
                ports = [p for (p,) in conn.execute(
                    "SELECT client_port FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.db]).fetchall()]
                owners = socket_owners([self.leader, *descendants(self.leader)])
                by_pid = Counter(owners.get(p, 0) for p in ports)
                self.samples.append(len(ports))
                self.peak = max(self.peak, len(ports))
                for pid, n in by_pid.items():
                    self.peak_by_pid[pid] = max(self.peak_by_pid[pid], n)
                self.stop.wait(1.0)


def drive(port: int, token: str, *, clients: int, seconds: float) -> tuple[Counter, list[str], int]:
    statuses: Counter = Counter()
    examples: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = 0
        while time.monotonic() < deadline:
            body = json.dumps([{"id": f"c{k}-{i}", "timestamp": datetime.now(UTC).isoformat(), "service": f"svc-{k % 8}",
                                "type": "log", "severity": "info", "message": f"GET /cart/{i} 200"}])
            i += 1
            try:
                conn.request("POST", "/api/v1/events", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status, data = 0, repr(exc).encode()
            with lock:
                statuses[status] += 1
                if status != 202 and len(examples) < 3:
                    examples.append(f"{status} {data[:160]!r}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, examples, sum(statuses.values())


@contextlib.contextmanager
def _capped_role(role: str, env: dict, limit: int):
    """Serve as a role of its own, limited to `limit` connections (a database's CONNECTION LIMIT
    does not apply to superusers), owning the bench database; dropped afterwards."""
    url = urlsplit(env["DATABASE_URL"])
    with _admin_connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {int(limit)}')
        conn.execute(f'ALTER DATABASE "{url.path.lstrip("/")}" OWNER TO "{role}"')
    env["DATABASE_URL"] = urlunsplit(url._replace(netloc=f"{role}@{url.hostname}:{url.port or 5432}"))
    try:
        yield
    finally:
        env["DATABASE_URL"] = urlunsplit(url)


def run(name: str, extra: dict, args) -> dict:
    role = f"cleara_bench_pool_{os.getpid()}"
    with bench_database("pool") as env, _capped_role(role, env, args.db_connection_limit):
        db = urlsplit(env["DATABASE_URL"]).path.lstrip("/")
        env.update(CLEARA_DEMO="0", LOG_LEVEL="WARNING", DJANGO_DEBUG="0", **extra)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        token = subprocess.run([sys.executable, "manage.py", "create_api_token", "bench", "--scope", "ingest"], cwd=ROOT, env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        port = free_port()
        ingest_port = free_port(taken=[port])
        serve = subprocess.Popen([sys.executable, "manage.py", "serve", "--no-demo", "--port", str(port), "--ingest-port", str(ingest_port)],
                                 cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_up(port)
            wait_up(ingest_port)
            port = ingest_port if args.to == "ingest-web" else port
            sampler = Sampler(os.environ["DATABASE_URL"], db, serve.pid)
            sampler.start()
            statuses, examples, total = drive(port, token, clients=args.clients, seconds=args.seconds)
            time.sleep(1.5)
            sampler.stop.set()
            sampler.join()
            names = {pid: process_name(pid) for pid in sampler.peak_by_pid}
        finally:
            os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
    with _admin_connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    pool_max = int(env.get("DATABASE_POOL_MAX_SIZE", 8))
    connected = [pid for pid in sampler.peak_by_pid if pid]
    return {
        "name": name, "statuses": statuses, "examples": examples, "total": total, "peak": sampler.peak,
        "by_process": sorted(((names[pid], n) for pid, n in sampler.peak_by_pid.items()), key=lambda x: -x[1]),
        "bound": pool_max * len(connected) if name == "after" else None, "processes": len(connected),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--db-connection-limit", type=int, default=30)
    parser.add_argument("--only", choices=sorted(CONFIGS))
    parser.add_argument("--to", choices=["ingest-web", "web"], default="ingest-web",
                        help="post to the ingest tier (uvicorn, what senders use) or to daphne's port")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("bench/pool.py measures PostgreSQL connections: set DATABASE_URL to a PostgreSQL server.", file=sys.stderr)
        return 2
    print(f"pool bench: {args.clients} clients x {args.seconds:g} s, one event per request to {args.to}, `manage.py serve --no-demo`, "
          f"app role limited to {args.db_connection_limit} connections; load before: {os.getloadavg()[0]:.2f}")
    failed = False
    for name, extra in CONFIGS.items():
        if args.only and name != args.only:
            continue
        r = run(name, extra, args)
        fives = sum(n for s, n in r["statuses"].items() if s >= 500 or s == 0)
        failed |= name == "after" and fives > 0
        print(f"\n{name} ({', '.join(f'{k}={v}' for k, v in extra.items()) or 'defaults: DATABASE_POOL=1'}):")
        print(f"  requests {r['total']} ({r['total'] / args.seconds:.0f}/s): " + ", ".join(f"{s}: {n}" for s, n in sorted(r["statuses"].items())))
        print(f"  5xx (or no answer): {fives}" + (f"; e.g. {r['examples'][0]}" if r["examples"] else ""))
        print(f"  peak connections held by the app: {r['peak']}"
              + (f" (bound: pool max x {r['processes']} connected processes = {r['bound']})" if r["bound"] is not None else ""))
        print("  peak per process: " + ", ".join(f"{n} {p}" for p, n in r["by_process"]))
    print(f"\nload after: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
