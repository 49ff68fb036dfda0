"""Test helpers for outages: a TCP proxy that can be cut and restored, and a daphne server
started against chosen service URLs. Used by the outage tests to take a dependency away from the
application without stopping the shared PostgreSQL or Redis."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Collection
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def port_range(spec: str | None, *, width: int = 100) -> range | None:
    """A port range from its spelling: "LO-HI", or "LO" for `width` ports from LO; None when empty."""
    spec = (spec or "").strip()
    if not spec:
        return None
    low, _, high = spec.partition("-")
    return range(int(low), int(high) + 1 if high else int(low) + width)


def free_port(ports: range | None = None, taken: Collection[int] = ()) -> int:
    """A free loopback port, never one of `taken`: from `ports`, else from TEST_PORT_RANGE
    ("8320-8329": machines shared by several sessions give each a range) when set, else any the
    system gives. The tests, `bench/` and the chaos lab all take their ports here."""
    ports = ports if ports is not None else port_range(os.environ.get("TEST_PORT_RANGE"))
    for port in ports if ports is not None else [0]:
        if port in taken:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port left in {ports.start}-{ports.stop - 1}")


class TcpProxy:
    """127.0.0.1:<port> -> target, on an asyncio loop in a thread of its own. `cut()` stops
    listening and aborts every open connection (what a network partition or a stopped server looks
    like to the client: resets, then refused connections); `restore()` listens again on the same
    port."""

    def __init__(self, target_host: str, target_port: int, *, port: int | None = None):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=f"proxy-{self.port}")

    def start(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def restore(self) -> None:
        async def listen():
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)
        self._run(listen())

    def cut(self) -> None:
        async def close():
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
        self._run(close())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort() if dst.transport else None

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


class Server:
    """`scripts/entrypoint web` (daphne serving cleara.asgi) or, with command="ingest-web", the ingest
    tier (uvicorn) on a free port with extra environment; its output goes to test-artifacts/<name>.log."""

    def __init__(self, name: str, env: dict[str, str], *, command: str = "web"):
        self.name, self.port, self.command = name, free_port(), command
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = BASE_DIR / "test-artifacts" / f"{name}.log"
        self.env = {**os.environ, "DJANGO_DEBUG": "0", "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "plain", **env}
        self.proc: subprocess.Popen | None = None

    def start(self, *, timeout: float = 90) -> Server:
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(BASE_DIR / "scripts" / "entrypoint"), self.command], cwd=BASE_DIR, stdout=self._log, stderr=subprocess.STDOUT,
            env={**self.env, "HOST": "127.0.0.1", "PORT": str(self.port), "PYTHON": sys.executable},
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.command} did not start; see {self.log_path}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30):
        """(status, headers, body) of one request; HTTP errors are answers, not exceptions."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def database_url(settings_dict: dict, *, host: str | None = None, port: int | None = None) -> str:
    """The URL of the (test) database `settings_dict` names, optionally through another host:port."""
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{host or settings_dict.get('HOST') or '127.0.0.1'}:{port or settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children before grandchildren."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in sorted(parents.get(queue.pop(0), [])):
            found.append(child)
            queue.append(child)
    return found


def socket_owners(pids: list[int]) -> dict[int, int]:
    """{local TCP port: pid} of the sockets the processes `pids` hold (Linux /proc)."""
    inode_port: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            inode_port[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    owners = {}
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:[") and link[8:-1] in inode_port:
                owners[inode_port[link[8:-1]]] = pid
    return owners


def pid_with_local_port(pids: list[int], port: int) -> int | None:
    """Which of `pids` holds a TCP socket bound to local `port` (the client end of a connection)."""
    return socket_owners(pids).get(port)


def wait_for(predicate, timeout: float, what: str, *, every: float = 0.2):
    """The first truthy value of `predicate()` within `timeout` seconds, or an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def qcluster(settings, monkeypatch, *, env: dict, log_name: str):
    """A real `manage.py qcluster` (one worker) on the test database, with `env` added; tasks the
    test queues go to it instead of running inline. Yields its process; stops it (and anything of
    it left) at the end, and empties the broker."""
    from django.db import connection
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    get_broker().purge_queue()
    full_env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "Q_WORKERS": "1", "Q_SYNC": "0",
                "LOG_FORMAT": "plain", "PYTHONUNBUFFERED": "1", **env}
    log_path = BASE_DIR / "test-artifacts" / log_name
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            # The guard, then one worker, the monitor and the pusher.
            wait_for(lambda: len(descendants(proc.pid)) >= 4, 60, "the cluster's processes")
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in descendants(proc.pid):
                    os.kill(pid, signal.SIGKILL)
                proc.kill()
                proc.wait()
            get_broker().purge_queue()
