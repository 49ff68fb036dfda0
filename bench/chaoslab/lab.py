"""The chaos lab: real services on loopback, real Prometheus and Alertmanager, faults on a schedule.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.chaoslab.lab --out DIR [--minutes 30] [--seed 1]

What runs (every port picked free at runtime, from `--ports LO-HI` when given, everything on 127.0.0.1, everything stopped at the end):

- services (`bench/chaoslab/service.py`): web -> api -> orders, catalog, payments; payments -> bank-api
  (a third party: never scraped, its logs never shipped: a silent root); orders and catalog use a
  PostgreSQL database (a throwaway one on DATABASE_URL's server) through a pool of 4 connections
  and a Redis server of the lab's own; orders publishes jobs to a queue (a Redis list) that
  fulfil-worker consumes; orders writes to a data directory on a 8 MB tmpfs (a directory with a size
  cap when mounting is not allowed);
- a probe endpoint (Redis PING, PostgreSQL SELECT 1, queue length) for the dependencies that have
  no exporter here;
- Prometheus (Debian `prometheus`), scraping every 2 s, with the alerting rules below; Alertmanager
  (Debian `prometheus-alertmanager`) delivering to Cleara's webhook
  (`/api/v1/integrations/alertmanager`, token auth) and to the lab's recorder;
- Cleara itself (daphne, a fresh database, correlation inline), receiving the alerts, the services'
  logs (shipped every 2 s to `/api/v1/events`) and a few metrics read back from Prometheus every 15 s;
- load: a few clients calling web; faults injected one after the other (sometimes overlapping):
  process killed (SIGKILL, restarted after), latency or errors injected, connection pool held,
  disk filled, CPU hog, a dependency blackholed (SIGSTOP: it accepts connections and never answers),
  Redis killed, the queue's consumer stalled.

What it writes to `--out`: `events.jsonl` (everything Cleara received, in arrival order, alerts as
the webhook turns them into events: replayable with `manage.py replay`), `topology.json`,
`faults.json` (the injection log), `truth.json` (the injection log as ground truth for
`correlation.scoring`: an alert or warning/error log belongs to a fault when its service is the root
or depends on it, directly or not, and it started within the fault's time, 20 s before to 90 s
after; a resolution goes with its firing), and `live-incidents.json` (the incidents the live Cleara
opened). Prints the live run's figures. `bench/correlation.py --lab DIR` replays recorded runs through
the current engine.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402
from cleara.tests.outage import free_port as cleara_free_port  # noqa: E402
from cleara.tests.outage import port_range  # noqa: E402

SERVICE_PY = Path(__file__).resolve().parent / "service.py"
TOPOLOGY = {
    "web": ["api"], "api": ["orders", "catalog", "payments"], "orders": ["postgres", "redis", "queue"],
    "catalog": ["postgres", "redis"], "payments": ["bank-api"], "fulfil-worker": ["queue", "postgres"],
    "queue": ["redis"], "redis": [], "postgres": [], "bank-api": [],
}
TIERS = {"web": "edge", "api": "gateway", "postgres": "database", "redis": "cache", "queue": "queue", "bank-api": "external",
         "fulfil-worker": "worker"}
FAULTS = [
    ("process_crash", "orders"), ("process_crash", "catalog"), ("process_crash", "payments"), ("process_crash", "api"),
    ("latency_injection", "orders"), ("latency_injection", "catalog"), ("latency_injection", "payments"),
    ("error_injection", "catalog"), ("error_injection", "orders"), ("error_injection", "payments"),
    ("pool_exhaustion", "orders"), ("pool_exhaustion", "catalog"), ("disk_full", "orders"),
    ("cpu_hog", "catalog"), ("cpu_hog", "orders"), ("blackhole", "bank-api"), ("blackhole", "redis"),
    ("process_crash", "redis"), ("consumer_stall", "fulfil-worker"),
]
RULES = """groups:
- name: lab
  rules:
  - alert: InstanceDown
    expr: up{job="services"} == 0
    for: 10s
    labels: {severity: critical}
    annotations: {summary: "{{ $labels.service }} is down: scrape of {{ $labels.instance }} failed"}
  - alert: HighErrorRate
    expr: sum by (service) (rate(http_requests_total{code=~"5.."}[30s])) / sum by (service) (rate(http_requests_total[30s])) > 0.1
    for: 20s
    labels: {severity: critical}
    annotations: {summary: "{{ $labels.service }}: {{ $value | humanizePercentage }} of requests fail"}
  - alert: HighLatency
    expr: histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket[30s]))) > 0.5
    for: 20s
    labels: {severity: warning}
    annotations: {summary: "{{ $labels.service }}: p95 latency {{ $value | humanizeDuration }}"}
  - alert: DependencyErrors
    expr: sum by (service, dep) (rate(dependency_errors_total[30s])) > 0.2
    for: 20s
    labels: {severity: warning}
    annotations: {summary: "{{ $labels.service }}: calls to {{ $labels.dep }} failing"}
  - alert: DBPoolSaturated
    expr: db_pool_in_use >= db_pool_size and db_pool_size > 0
    for: 15s
    labels: {severity: warning}
    annotations: {summary: "{{ $labels.service }}: every database connection of the pool is in use"}
  - alert: DiskAlmostFull
    expr: disk_free_ratio < 0.1
    for: 10s
    labels: {severity: critical}
    annotations: {summary: "{{ $labels.service }}: data directory {{ $value | humanizePercentage }} free"}
  - alert: HighCPU
    expr: rate(process_cpu_seconds_total{job="services"}[30s]) > 0.4
    for: 20s
    labels: {severity: warning}
    annotations: {summary: "{{ $labels.service }}: CPU {{ $value | humanizePercentage }}"}
  - alert: ProbeFailed
    expr: probe_success == 0
    for: 10s
    labels: {severity: critical}
    annotations: {summary: "{{ $labels.service }} does not answer its probe"}
  - alert: QueueBacklog
    expr: lab_queue_depth > 100
    for: 20s
    labels: {severity: warning}
    annotations: {summary: "{{ $labels.service }}: {{ $value }} jobs waiting"}
"""


PORTS: range | None = None  # --ports LO-HI: every port the lab opens comes from this range


def lab_port() -> int:
    """A free loopback port: any (the kernel's pick), or the next free one in `PORTS`, never the same twice."""
    port = cleara_free_port(PORTS or range(0, 1), _TAKEN)
    if PORTS:
        _TAKEN.add(port)
    return port


_TAKEN: set[int] = set()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def http_json(url: str, body=None, *, token: str | None = None, timeout: float = 10.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s")


class Recorder:
    """What Cleara received, in arrival order: the events shipped and the alerts Alertmanager sent."""

    def __init__(self, path: Path):
        self.fh = path.open("w")
        self.lock = threading.Lock()
        self.seen: set[str] = set()

    def add(self, events: list[dict]) -> None:
        with self.lock:
            for e in events:
                if e["id"] in self.seen:
                    continue
                self.seen.add(e["id"])
                self.fh.write(json.dumps(e, separators=(",", ":")) + "\n")
            self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def alert_events(payload: dict) -> list[dict]:
    """An Alertmanager payload as the events Cleara's webhook stores (its own parser)."""
    from integrations.alertmanager.payload import batch_parse, batch_to_events

    out = []
    for e in batch_to_events(batch_parse(payload)):
        out.append({"id": e.client_id, "timestamp": e.timestamp.isoformat(), "service": e.service, "type": e.type,
                    "severity": e.severity, "message": e.message, "host": e.host, "fingerprint": e.fingerprint,
                    "attributes": e.attributes})
    return out


class Lab:
    def __init__(self, args, out: Path):
        self.args, self.out = args, out
        self.rng = random.Random(args.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="cleara_chaoslab_"))
        self.procs: dict[str, subprocess.Popen] = {}
        self.cfg: dict[str, dict] = {}
        self.stopped: set[str] = set()
        self.stop = threading.Event()
        self.ship: queue.Queue = queue.Queue()
        self.n = 0
        self.n_lock = threading.Lock()
        self.recorder = Recorder(out / "events.jsonl")
        self.faults: list[dict] = []
        self.mounted = False
        self.threads: list[threading.Thread] = []

    def _id(self, kind: str) -> str:
        with self.n_lock:
            self.n += 1
            return f"lab{self.args.seed}-{kind}{self.n}"

    # -- processes -----------------------------------------------------------------------------

    def spawn(self, name: str, cmd: list[str], *, env=None, logs: bool = False, cwd: Path | None = None) -> None:
        proc = subprocess.Popen(cmd, cwd=cwd or self.tmp, env=env, stdout=subprocess.PIPE if logs else subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL if logs else (self.tmp / f"{name}.err").open("w"), text=True,
                                start_new_session=True)
        self.procs[name] = proc
        if logs:
            t = threading.Thread(target=self._read_logs, args=(name, proc), daemon=True)
            t.start()

    def _read_logs(self, name: str, proc: subprocess.Popen) -> None:
        silent = name == "bank-api"
        port = self.cfg[name]["port"]
        for line in proc.stdout:
            if silent:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            sev = {"error": "critical", "warning": "warning"}.get(rec.get("level"), "info")
            self.ship.put({"id": self._id("l"), "timestamp": rec["ts"], "service": name, "type": "log", "severity": sev,
                           "message": rec["msg"], "host": f"127.0.0.1:{port}", "attributes": {"shipper": "chaoslab"}})

    def start_service(self, name: str) -> None:
        self.spawn(name, [sys.executable, str(SERVICE_PY), json.dumps(self.cfg[name])], logs=True)

    def start_redis(self) -> None:
        self.spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(self.tmp)])

    def kill(self, name: str, sig=signal.SIGKILL) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait(timeout=10)

    # -- set-up --------------------------------------------------------------------------------

    def disk_dir(self) -> tuple[str, int]:
        d = self.tmp / "orders-data"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)], capture_output=True)
        if r.returncode == 0:
            self.mounted = True
            return str(d), 0
        return str(d), 8 * 1024 * 1024

    def configure(self, app_dsn: str) -> None:
        self.redis_port = lab_port()
        redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        ports = {n: lab_port() for n in ("web", "api", "orders", "catalog", "payments", "bank-api", "fulfil-worker")}
        url = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        disk, cap = self.disk_dir()
        self.cfg = {
            "bank-api": {"name": "bank-api", "port": ports["bank-api"]},
            "payments": {"name": "payments", "port": ports["payments"], "deps": [{"name": "bank-api", "url": url["bank-api"], "timeout": 1.5}]},
            "catalog": {"name": "catalog", "port": ports["catalog"], "dsn": app_dsn, "redis": redis_url},
            "orders": {"name": "orders", "port": ports["orders"], "dsn": app_dsn, "redis": redis_url, "publish": True,
                       "disk_dir": disk, "disk_cap": cap},
            "fulfil-worker": {"name": "fulfil-worker", "port": ports["fulfil-worker"], "dsn": app_dsn, "redis": redis_url, "worker": True},
            "api": {"name": "api", "port": ports["api"], "deps": [{"name": n, "url": url[n], "timeout": 2.0} for n in ("orders", "catalog", "payments")]},
            "web": {"name": "web", "port": ports["web"], "deps": [{"name": "api", "url": url["api"], "timeout": 7.0}]},
        }
        self.url = url
        self.app_dsn = app_dsn

    def probe_server(self) -> int:
        lab = self

        class Probe(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                lines = []
                ok = 0
                try:
                    with socket.create_connection(("127.0.0.1", lab.redis_port), timeout=0.8) as s:
                        s.settimeout(0.8)
                        s.sendall(b"PING\r\n")
                        ok = int(s.recv(16).startswith(b"+PONG"))
                        s.sendall(b"LLEN lab:jobs\r\n")
                        depth = s.recv(32).decode().strip().lstrip(":")
                        lines.append(f'lab_queue_depth{{service="queue"}} {int(depth) if depth.isdigit() else 0}')
                except OSError:
                    pass
                lines.append(f'probe_success{{service="redis"}} {ok}')
                try:
                    import psycopg

                    with psycopg.connect(lab.app_dsn, connect_timeout=1) as c:
                        c.execute("SELECT 1")
                    lines.append('probe_success{service="postgres"} 1')
                except Exception:
                    lines.append('probe_success{service="postgres"} 0')
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", lab_port() if PORTS else 0), Probe)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_address[1]

    def recorder_server(self) -> int:
        lab = self

        class Hook(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    lab.recorder.add(alert_events(json.loads(body)))
                    code = 200
                except Exception as exc:  # a payload Cleara would refuse: say so, keep going
                    print(f"recorder: refused payload: {exc}", file=sys.stderr)
                    code = 400
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", lab_port() if PORTS else 0), Hook)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_address[1]

    def monitoring(self, cleara_port: int, token: str) -> None:
        probe, rec = self.probe_server(), self.recorder_server()
        self.prom_port, am_port = lab_port(), lab_port()
        targets = "\n".join(
            f"    - targets: ['127.0.0.1:{c['port']}']\n      labels: {{service: '{n}'}}" for n, c in self.cfg.items() if n != "bank-api"
        )
        (self.tmp / "rules.yml").write_text(RULES)
        (self.tmp / "prometheus.yml").write_text(f"""global:
  scrape_interval: 2s
  scrape_timeout: 1500ms
  evaluation_interval: 2s
rule_files: ['{self.tmp / "rules.yml"}']
alerting:
  alertmanagers:
  - static_configs:
    - targets: ['127.0.0.1:{am_port}']
scrape_configs:
- job_name: services
  static_configs:
{targets}
- job_name: probe
  honor_labels: true
  static_configs:
    - targets: ['127.0.0.1:{probe}']
""")
        (self.tmp / "alertmanager.yml").write_text(f"""route:
  receiver: cleara
  group_by: [alertname, service]
  group_wait: 5s
  group_interval: 10s
  repeat_interval: 1h
receivers:
- name: cleara
  webhook_configs:
  - url: http://127.0.0.1:{cleara_port}/api/v1/integrations/alertmanager
    send_resolved: true
    http_config:
      authorization:
        credentials: {token}
  - url: http://127.0.0.1:{rec}/alerts
    send_resolved: true
""")
        self.spawn("alertmanager", ["prometheus-alertmanager", f"--config.file={self.tmp / 'alertmanager.yml'}",
                                    f"--storage.path={self.tmp / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                    "--cluster.listen-address="])
        self.spawn("prometheus", ["prometheus", f"--config.file={self.tmp / 'prometheus.yml'}", f"--storage.tsdb.path={self.tmp / 'prom'}",
                                  f"--web.listen-address=127.0.0.1:{self.prom_port}", "--storage.tsdb.retention.time=1d"])
        wait_http(f"http://127.0.0.1:{am_port}/-/ready")
        wait_http(f"http://127.0.0.1:{self.prom_port}/-/ready")

    # -- running -------------------------------------------------------------------------------

    def shipper(self, base: str, token: str) -> None:
        while not self.stop.is_set() or not self.ship.empty():
            time.sleep(2.0)
            batch = []
            while not self.ship.empty() and len(batch) < 4000:
                batch.append(self.ship.get())
            if not batch:
                continue
            self.recorder.add(batch)
            try:
                http_json(f"{base}/api/v1/events", batch, token=token, timeout=120)
            except Exception as exc:
                print(f"shipper: {exc}", file=sys.stderr)

    def metrics_reader(self) -> None:
        queries = {
            "error_ratio": 'sum by (service) (rate(http_requests_total{code=~"5.."}[30s])) / sum by (service) (rate(http_requests_total[30s]))',
            "latency_p95": "histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket[30s])))",
            "cpu": 'rate(process_cpu_seconds_total{job="services"}[30s])',
            "queue_depth": "lab_queue_depth",
        }
        while not self.stop.wait(15):
            for metric, q in queries.items():
                try:
                    data = http_json(f"http://127.0.0.1:{self.prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
                except Exception:
                    continue
                for r in data.get("data", {}).get("result", []):
                    value = float(r["value"][1])
                    service = r["metric"].get("service")
                    if service and value == value and abs(value) != float("inf"):
                        ts = datetime.fromtimestamp(float(r["value"][0]), tz=UTC).isoformat()
                        self.ship.put({"id": self._id("m"), "timestamp": ts, "service": service, "type": "metric",
                                       "metric": metric, "value": round(value, 6), "host": "prometheus"})

    def load(self) -> None:
        conn = None
        port = self.cfg["web"]["port"]
        while not self.stop.is_set():
            t = time.time()
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/work")
                conn.getresponse().read()
            except Exception:
                conn = None
            time.sleep(max(0.0, 0.3 - (time.time() - t)))

    def inject(self, kind: str, root: str) -> None:
        if kind == "process_crash":
            if root == "redis":
                self.kill("redis")
            else:
                self.kill(root)
        elif kind in ("blackhole", "consumer_stall"):
            self.kill(root, signal.SIGSTOP)
            self.stopped.add(root)
        else:
            body = {"latency_injection": {"latency": 1.6}, "error_injection": {"errors": 0.6}, "pool_exhaustion": {"pool_hold": True},
                    "cpu_hog": {"cpu": True}, "disk_full": {"disk_fill": True}}[kind]
            http_json(self.url[root] + "/fault", body, timeout=30)

    def recover(self, kind: str, root: str) -> None:
        if kind == "process_crash":
            if root == "redis":
                self.start_redis()
            else:
                self.start_service(root)
        elif kind in ("blackhole", "consumer_stall"):
            self.kill(root, signal.SIGCONT)
            self.stopped.discard(root)
        else:
            http_json(self.url[root] + "/fault", {"clear": True}, timeout=30)

    def schedule(self, minutes: float) -> None:
        end = time.time() + minutes * 60
        order = FAULTS[:]
        self.rng.shuffle(order)
        active: list[tuple[float, str, str, dict]] = []
        nxt = time.time()
        i = 0
        while time.time() < end or active:
            now = time.time()
            for item in [a for a in active if a[0] <= now]:
                _, kind, root, record = item
                self.recover(kind, root)
                record["end"] = now_iso()
                active.remove(item)
                print(f"  {record['end']} recovered {kind} on {root}", flush=True)
            if now >= nxt and now < end and len(active) < 2:
                kind, root = order[i % len(order)]
                i += 1
                if any(a[2] == root for a in active):
                    nxt = now + 5
                    continue
                duration = self.rng.uniform(50, 100)
                record = {"id": f"lab{self.args.seed}-f{i}", "kind": kind, "root_service": root, "start": now_iso(),
                          "overlapping": bool(active)}
                self.inject(kind, root)
                self.faults.append(record)
                active.append((now + duration, kind, root, record))
                print(f"  {record['start']} injected {kind} on {root} for {duration:.0f} s", flush=True)
                overlap = self.rng.random() < 0.2
                nxt = now + (self.rng.uniform(20, 40) if overlap else duration + self.rng.uniform(45, 90))
            time.sleep(0.5)

    def run(self) -> None:
        args = self.args
        with bench_database(f"labapp{args.seed}") as app_env, bench_database(f"lab{args.seed}") as env:
            self.configure(app_env["DATABASE_URL"])
            env.update(CORRELATION_INLINE="1", INGEST_ASYNC="0", LOG_LEVEL="WARNING", DJANGO_DEBUG="0")  # inline: no ingest worker runs here
            os.environ.update(DATABASE_URL=env["DATABASE_URL"], DJANGO_SETTINGS_MODULE="cleara.settings")
            import django

            django.setup()
            manage = [sys.executable, "manage.py"]
            subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            token = subprocess.run([*manage, "create_api_token", "chaoslab", "--scope", "ingest", "--scope", "admin"], cwd=ROOT, env=env, check=True, capture_output=True,
                                   text=True).stdout.strip()
            topology = {"services": [{"name": n, "tier": TIERS.get(n, "backend"), "depends_on": d} for n, d in TOPOLOGY.items()]}
            (self.out / "topology.json").write_text(json.dumps(topology, indent=1))
            cleara_port = lab_port()
            base = f"http://127.0.0.1:{cleara_port}"
            try:
                self.spawn("cleara", [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(cleara_port), "cleara.asgi:application"],
                           env=env, cwd=ROOT)
                wait_http(f"{base}/healthz")
                http_json(f"{base}/api/v1/services", topology, token=token)
                self.start_redis()
                time.sleep(0.5)
                for name in ("bank-api", "payments", "catalog", "orders", "fulfil-worker", "api", "web"):
                    self.start_service(name)
                for name in self.cfg:
                    wait_http(self.url[name] + "/metrics")
                self.monitoring(cleara_port, token)
                for target in (lambda: self.shipper(base, token), self.metrics_reader, *[self.load] * 3):
                    t = threading.Thread(target=target, daemon=True)
                    t.start()
                    self.threads.append(t)
                print(f"chaos lab up in {self.tmp}: Cleara {base}, Prometheus :{self.prom_port}; warming up 60 s", flush=True)
                time.sleep(60)
                self.schedule(args.minutes)
                print("settling 90 s (resolutions)", flush=True)
                time.sleep(90)
            finally:
                self.stop.set()
                for t in self.threads:
                    t.join(timeout=30)
                self.shutdown()
            incidents = subprocess.run([sys.executable, "-c", (
                "import django, json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cleara.settings'); django.setup(); "
                "from incidents.models import Incident; from incidents.selectors import incident_to_api; "
                "print(json.dumps([incident_to_api(i) for i in Incident.objects.order_by('number')]))"
            )], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
            (self.out / "live-incidents.json").write_text(incidents)
        self.recorder.close()
        (self.out / "faults.json").write_text(json.dumps(self.faults, indent=1))

    def shutdown(self) -> None:
        for name in list(self.stopped):
            self.kill(name, signal.SIGCONT)
        for name, proc in self.procs.items():
            if name != "cleara" and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        cleara = self.procs.get("cleara")
        if cleara is not None and cleara.poll() is None:
            time.sleep(3)  # the last alert deliveries
            os.killpg(cleara.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.mounted:
            subprocess.run(["umount", str(self.tmp / "orders-data")], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def cone(root: str) -> dict[str, int]:
    """The root and every service that depends on it, directly or not, with the hops."""
    dependants: dict[str, set[str]] = {}
    for a, deps in TOPOLOGY.items():
        for b in deps:
            dependants.setdefault(b, set()).add(a)
    seen = {root: 0}
    frontier = [root]
    while frontier:
        nxt = []
        for s in frontier:
            for c in dependants.get(s, ()):
                if c not in seen:
                    seen[c] = seen[s] + 1
                    nxt.append(c)
        frontier = nxt
    return seen


def label(events_path: Path, faults: list[dict], seed: int) -> dict:
    """The injection log as ground truth in `correlation.scoring`'s shape."""
    def ts(s: str) -> float:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

    windows = []
    for f in faults:
        reach = cone(f["root_service"])
        if f["kind"] == "consumer_stall":
            reach = {**reach, "queue": 1}
        windows.append((f, ts(f["start"]) - 20, ts(f.get("end") or f["start"]) + 90, reach))
    truth_faults = {f["id"]: {**f, "pattern": f["kind"], "event_ids": [], "alert_ids": [], "metric_ids": []} for f in faults}
    firing_owner: dict[tuple[str, str], str] = {}
    noise: list[str] = []
    counts = {"events": 0, "alerts": 0, "logs": 0, "metrics": 0}
    with events_path.open() as fh:
        for line in fh:
            e = json.loads(line)
            counts["events"] += 1
            counts[e["type"] + "s"] += 1
            if e["type"] == "metric" or (e["type"] == "log" and e["severity"] == "info"):
                continue
            owner = None
            attrs = e.get("attributes") or {}
            if e["type"] == "alert" and attrs.get("alert_status") == "resolved":
                owner = firing_owner.get((e["fingerprint"], attrs.get("starts_at")))
            else:
                t = ts(e["timestamp"])
                fits = [(w[3][e["service"]], -w[1], w[0]["id"]) for w in windows if w[1] <= t <= w[2] and e["service"] in w[3]]
                if fits:
                    owner = min(fits)[2]
                if e["type"] == "alert":
                    firing_owner[(e["fingerprint"], attrs.get("starts_at"))] = owner
            if owner is None:
                if e["type"] == "alert":
                    noise.append(e["id"])
                continue
            truth_faults[owner]["event_ids"].append(e["id"])
            if e["type"] == "alert":
                truth_faults[owner]["alert_ids"].append(e["id"])
    for f in truth_faults.values():
        f["tags"] = {"mode": "overlapping" if f.get("overlapping") else "single", "silent_root": f["root_service"] == "bank-api"}
    # A fault that caused no alert and no warning or error line (a CPU hog the box absorbed) is
    # invisible to anyone: it is listed apart, not counted as missed.
    return {"generator": "bench.chaoslab", "seed": seed, "id_prefix": f"lab{seed}-", "counts": counts, "noise_alert_ids": noise,
            "faults": [f for f in truth_faults.values() if f["event_ids"]],
            "invisible": [f["id"] for f in truth_faults.values() if not f["event_ids"]]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long faults are injected (plus ~3 min set-up and settling)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ports", help="LO-HI: take every port from this range (a shared machine); default: any free port")
    args = parser.parse_args()
    if args.ports:
        global PORTS
        PORTS = port_range(args.ports)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("the chaos lab needs PostgreSQL: set DATABASE_URL", file=sys.stderr)
        return 2
    for tool in ("prometheus", "prometheus-alertmanager", "redis-server"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install prometheus prometheus-alertmanager redis-server)", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    lab = Lab(args, args.out)
    started = time.time()
    lab.run()
    truth = label(args.out / "events.jsonl", lab.faults, args.seed)
    (args.out / "truth.json").write_text(json.dumps(truth))
    from evaluation import scoring

    incidents = json.loads((args.out / "live-incidents.json").read_text())
    result = scoring.score(truth=truth, incidents=incidents)
    print(f"\nchaos lab run (seed {args.seed}, {args.minutes:g} min of faults, {(time.time() - started) / 60:.1f} min in all): "
          f"{len(lab.faults)} faults ({len(truth['invisible'])} caused no alert and no error line), {truth['counts']}")
    print("live Cleara (correlation inline):")
    print(scoring.report(result))
    for r in result.per_fault:
        print(f"   {r.fault:12} {r.kind:18} root {r.root:14} -> {r.predicted_root} {r.candidates[:3]} conf {r.confidence} "
              f"{'' if r.top1 else 'WRONG'}")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
