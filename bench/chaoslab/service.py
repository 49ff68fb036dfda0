"""One service of the chaos lab: a small HTTP service that calls its dependencies for real.

    python bench/chaoslab/service.py '<json config>'

`GET /work` does the service's work: it calls its HTTP dependencies (timeouts, not mocks), takes a
connection from its PostgreSQL pool and queries, reads and writes Redis, publishes to the Redis
queue, appends an audit line to its data directory. A worker (`"worker": true`) consumes the queue
instead. `GET /metrics` is the Prometheus exposition (requests by code, a latency histogram,
dependency errors, pool use, free disk, process CPU). `POST /fault` switches an in-process fault on
or off: `{"latency": 1.5}`, `{"errors": 0.5}`, `{"pool_hold": true}`, `{"cpu": true}`,
`{"disk_fill": true}`, `{"clear": true}`. Logs are JSON lines on standard output (the lab ships
them); error lines are rate-limited as a real service's logger would not be, to keep volumes sane.
Standard library, prometheus_client, psycopg and redis only: no Django.
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import queue
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

CFG = json.loads(sys.argv[1])
NAME = CFG["name"]
REG = CollectorRegistry()
ProcessCollector(registry=REG)
REQS = Counter("http_requests", "requests served", ["code"], registry=REG)
LAT = Histogram("http_request_duration_seconds", "request latency", registry=REG,
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8))
DEP_ERR = Counter("dependency_errors", "failed calls to a dependency", ["dep"], registry=REG)
POOL_USE = Gauge("db_pool_in_use", "connections taken from the pool", registry=REG)
POOL_SIZE = Gauge("db_pool_size", "connections in the pool", registry=REG)
DISK_FREE = Gauge("disk_free_ratio", "free share of the data directory's filesystem", registry=REG)
DONE = Counter("worker_jobs_processed", "jobs taken from the queue", registry=REG)
FAULT = {"latency": 0.0, "errors": 0.0, "pool_hold": False, "cpu": False, "disk_fill": False}
LOCK = threading.Lock()


class Logger:
    """JSON lines on stdout; error and warning lines at most `rate` a second (bursts of `burst`)."""

    def __init__(self, rate: float = 2.0, burst: int = 6):
        self.rate, self.burst, self.tokens, self.at = rate, burst, float(burst), time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, level: str, msg: str, **extra) -> None:
        with self.lock:
            if level != "info":
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
                self.at = now
                if self.tokens < 1:
                    return
                self.tokens -= 1
            line = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"), "level": level, "msg": msg, **extra}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()


log = Logger()


class Pool:
    """A fixed pool of PostgreSQL connections, as an application's pool would hold them."""

    def __init__(self, dsn: str, size: int):
        import psycopg

        self.size = size
        self.q: queue.Queue = queue.Queue()
        for _ in range(size):
            self.q.put(psycopg.connect(dsn, autocommit=True, connect_timeout=3))
        POOL_SIZE.set(size)
        self.held: list = []

    def query(self, sql: str, args=()) -> None:
        try:
            conn = self.q.get(timeout=1.0)
        except queue.Empty:
            raise TimeoutError(f"timeout acquiring connection from pool ({self.size}/{self.size} in use) after 1000ms") from None
        POOL_USE.inc()
        try:
            conn.execute(sql, args)
        finally:
            POOL_USE.dec()
            self.q.put(conn)

    def hold(self) -> None:
        while len(self.held) < self.size:
            try:
                self.held.append(self.q.get(timeout=5))
                POOL_USE.inc()
            except queue.Empty:
                return

    def release(self) -> None:
        while self.held:
            self.q.put(self.held.pop())
            POOL_USE.dec()


POOL = Pool(CFG["dsn"], CFG.get("pool", 4)) if CFG.get("dsn") else None
REDIS = None
if CFG.get("redis"):
    import redis

    REDIS = redis.Redis.from_url(CFG["redis"], socket_timeout=1.0, socket_connect_timeout=1.0)
DISK = CFG.get("disk_dir")
DISK_CAP = CFG.get("disk_cap", 0)  # bytes, when the directory is not a filesystem of its own


def disk_free() -> float:
    if not DISK:
        return 1.0
    if DISK_CAP:
        used = sum(e.stat().st_size for e in os.scandir(DISK) if e.is_file())
        return max(0.0, 1 - used / DISK_CAP)
    st = os.statvfs(DISK)
    return st.f_bavail / st.f_blocks if st.f_blocks else 1.0


def disk_write(name: str, data: bytes) -> None:
    """Append to a file; with a size cap, write what fits and then fail as a full filesystem does."""
    path = os.path.join(DISK, name)
    room = int(disk_free() * DISK_CAP) if DISK_CAP else len(data)
    with open(path, "ab") as fh:
        fh.write(data[:room])
    if room < len(data):
        raise OSError(errno.ENOSPC, "No space left on device", path)


SPOOL = itertools.count(1)


def spool_write(data: bytes) -> None:
    """Each request spools a new small file (a new file needs a new block: a full disk refuses it)
    and drops the one 50 requests old."""
    n = next(SPOOL)
    disk_write(f"spool-{n}.dat", data)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(DISK, f"spool-{n - 50}.dat"))


def call(dep: dict) -> None:
    try:
        with urllib.request.urlopen(dep["url"] + "/work", timeout=dep.get("timeout", 2.0)) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        DEP_ERR.labels(dep["name"]).inc()
        raise RuntimeError(f"upstream {dep['name']} returned {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        DEP_ERR.labels(dep["name"]).inc()
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"calling {dep['name']} failed: {reason}") from None


def work() -> None:
    if FAULT["latency"]:
        time.sleep(FAULT["latency"] * random.uniform(0.7, 1.3))
    if FAULT["errors"] and random.random() < FAULT["errors"]:
        raise RuntimeError(random.choice(("unhandled exception in handler: KeyError('tenant_id')",
                                          "Internal Server Error: invalid literal for int() with base 10: 'null'")))
    for dep in CFG.get("deps", []):
        call(dep)
    if POOL is not None:
        try:
            POOL.query("SELECT pg_sleep(0.005)")
        except TimeoutError:
            DEP_ERR.labels("postgres").inc()
            raise
        except Exception as exc:
            DEP_ERR.labels("postgres").inc()
            raise RuntimeError(f"database error: {exc}") from None
    if REDIS is not None:
        try:
            REDIS.set(f"lab:{NAME}:last", time.time())
            REDIS.get(f"lab:{NAME}:last")
            if CFG.get("publish"):
                REDIS.lpush("lab:jobs", json.dumps({"at": time.time()}))
        except Exception as exc:
            DEP_ERR.labels("redis").inc()
            raise RuntimeError(f"redis error: {exc.__class__.__name__}: {exc}") from None
    if DISK:
        try:
            spool_write(b"x" * 200 + b"\n")
        except OSError as exc:
            raise RuntimeError(f"write {exc.filename}: {exc.strerror.lower() if exc.strerror else exc}") from None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # access lines are sampled below instead
        pass

    def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/metrics":
            DISK_FREE.set(disk_free())
            self._send(200, generate_latest(REG), "text/plain; version=0.0.4")
            return
        if self.path != "/work":
            self._send(404, b"not found")
            return
        t = time.perf_counter()
        code = 200
        try:
            work()
        except TimeoutError as exc:
            code = 503
            log("error", str(exc))
        except RuntimeError as exc:
            code = 502 if "upstream" in str(exc) or "calling" in str(exc) else 500
            log("error", f"GET /work failed: {exc}")
        LAT.observe(time.perf_counter() - t)
        REQS.labels(str(code)).inc()
        if random.random() < 0.01:
            log("info", f"GET /work {code} {1000 * (time.perf_counter() - t):.0f}ms")
        self._send(code, b"ok" if code == 200 else b"error")

    def do_POST(self) -> None:
        if self.path != "/fault":
            self._send(404, b"not found")
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        with LOCK:
            if body.get("clear"):
                clear()
            else:
                apply(body)
        self._send(200, json.dumps(FAULT).encode(), "application/json")


def hog() -> None:
    while FAULT["cpu"]:
        sum(i * i for i in range(20000))


def apply(body: dict) -> None:
    if "latency" in body:
        FAULT["latency"] = float(body["latency"])
    if "errors" in body:
        FAULT["errors"] = float(body["errors"])
    if body.get("pool_hold") and POOL is not None:
        FAULT["pool_hold"] = True
        POOL.hold()
    if body.get("cpu"):
        FAULT["cpu"] = True
        for _ in range(3):
            threading.Thread(target=hog, daemon=True).start()
    if body.get("disk_fill") and DISK:
        FAULT["disk_fill"] = True
        try:
            while True:
                disk_write("ballast.bin", b"\0" * 65536)
        except OSError as exc:
            log("error", f"write {exc.filename}: {(exc.strerror or str(exc)).lower()}")


def clear() -> None:
    FAULT.update(latency=0.0, errors=0.0, cpu=False)
    if FAULT["pool_hold"] and POOL is not None:
        POOL.release()
    FAULT["pool_hold"] = False
    if FAULT["disk_fill"] and DISK:
        try:
            os.remove(os.path.join(DISK, "ballast.bin"))
        except FileNotFoundError:
            pass
    FAULT["disk_fill"] = False


def worker_loop() -> None:
    while True:
        try:
            item = REDIS.brpop("lab:jobs", timeout=1)
            if item is None:
                continue
            if POOL is not None:
                POOL.query("SELECT pg_sleep(0.002)")
            DONE.inc()
        except Exception as exc:
            log("error", f"job failed: {exc.__class__.__name__}: {exc}")
            time.sleep(0.5)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", CFG["port"]), Handler)
    server.daemon_threads = True
    if CFG.get("worker"):
        threading.Thread(target=worker_loop, daemon=True).start()
    log("info", f"{NAME} listening on 127.0.0.1:{CFG['port']}")
    server.serve_forever()
