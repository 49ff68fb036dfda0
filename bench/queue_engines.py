"""The two queue engines issue 11 allowed, measured roughly on the same Redis: how many small
messages per second get from a producer to one consumer that acknowledges them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/queue_engines.py [--messages 3000]

* Redis Streams (what incidents.queue uses): XADD each message (pipelined, as a request publishes
  its rows), one consumer reads with XREADGROUP COUNT 200 and XACKs each read.
* django-q2 with its Redis broker (the rejected alternative: one queue per partition): async_task
  per message, a real `manage.py qcluster` with one worker runs each task (a function that counts
  in Redis), timed until every task ran.
Neither runs the pipeline: this is the queue's own cost per message, the floor under a worker.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402

COUNTER = "bench-queue-engines:counter"


def touch(key: str) -> None:
    """The django-q2 task: count one message."""
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).incr(key)


def streams(n: int, url: str) -> tuple[float, float]:
    import redis

    r = redis.Redis.from_url(url)
    stream = f"bench-queue-engines:{uuid.uuid4().hex[:8]}"
    r.xgroup_create(stream, "g", id="0", mkstream=True)
    t0 = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(stream, {"m": i, "n": 1})
        if i % 50 == 49:
            pipe.execute()
    pipe.execute()
    published = time.perf_counter() - t0
    seen = 0
    while seen < n:
        for _, entries in r.xreadgroup("g", "c", {stream: ">"}, count=200, block=1000) or []:
            r.xack(stream, "g", *[e for e, _ in entries])
            seen += len(entries)
    total = time.perf_counter() - t0
    r.delete(stream)
    return n / published, n / total


def django_q2(n: int) -> tuple[float, float]:
    with bench_database("queues") as env:
        name = f"bench-q-{uuid.uuid4().hex[:6]}"
        env.update(LOG_LEVEL="WARNING", Q_WORKERS="1", DJANGO_DEBUG="0")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        key = f"{COUNTER}:{name}"
        script = (
            "import django, os, sys, time; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cleara.settings'); django.setup(); "
            "from django_q.tasks import async_task; t = time.perf_counter(); "
            f"[async_task('bench.queue_engines.touch', {key!r}) for _ in range({n})]; print({n} / (time.perf_counter() - t))"
        )
        import redis

        r = redis.Redis.from_url(env["REDIS_URL"])
        r.delete(key)
        t0 = time.perf_counter()
        enqueue = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.time() + 600
            first = None
            while int(r.get(key) or 0) < n - 1 and time.time() < deadline:
                if first is None and int(r.get(key) or 0) > 0:
                    first = time.perf_counter()
                time.sleep(0.05)
            done = time.perf_counter()
        finally:
            os.killpg(cluster.pid, 15)
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, 9)
                cluster.wait()
            r.delete(key)
        return float(enqueue.stdout.strip().splitlines()[-1]), (n - 1) / (done - (first or t0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL")
    if not url:
        print("set REDIS_URL", file=sys.stderr)
        return 2
    print(f"{args.messages} messages, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    published, consumed = streams(args.messages, url)
    print(f"Redis Streams (XADD pipelined; XREADGROUP COUNT 200 + XACK): published {published:,.0f}/s, end to end {consumed:,.0f}/s")
    enqueued, ran = django_q2(args.messages)
    print(f"django-q2, Redis broker, 1 worker (async_task; the cluster runs each task): enqueued {enqueued:,.0f}/s, ran {ran:,.0f} tasks/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
