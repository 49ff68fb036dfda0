"""Liveness and readiness.

- `/healthz`: the process serves requests; always 200 (a database outage must not make an
  orchestrator restart every web process), with `"database": "ok"` or `"database unavailable"`.
- `/readyz`: this process can do its work: the database answers, Redis answers (when REDIS_URL is
  set), every migration is applied, and a worker finished a task within READY_WORKER_MAX_AGE
  seconds (the minute outbox sweep of `setup_schedules` guarantees one a minute while a worker
  runs). 200 when all pass, 503 naming the failing checks otherwise. Neither names a host, a port
  or a driver's message: both answer anyone. `?skip=worker` leaves a check
  out: a web pod's readiness probe skips the worker, so a stopped worker does not take the console
  down with it (the `ClearaWorkerDown` alert says so instead).
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    """200 while the process serves requests, with a word on the database (never its host or
    port: anyone may call this). Still 200 when the database is down: restarting web processes
    would not bring it back."""
    try:
        check_database()
    except DatabaseError:
        return JsonResponse({"status": "ok", "database": "database unavailable"})
    return JsonResponse({"status": "ok", "database": "ok"})


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_migrations() -> str:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        raise RuntimeError(f"{len(pending)} unapplied migration(s), first {pending[0][0].app_label}.{pending[0][0].name}")
    return "ok"


def check_worker() -> str:
    from django_q.models import Task

    last = Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    if last is None:
        raise RuntimeError("no task finished yet")
    age = timezone.now() - last
    if age > timedelta(seconds=settings.READY_WORKER_MAX_AGE):
        raise RuntimeError(f"last task finished {int(age.total_seconds())} s ago")
    return f"last task {int(age.total_seconds())} s ago"


def _reason(exc: Exception) -> str:
    """Why a check failed, as an anonymous caller may read it: our own reasons in full, a
    connection failure by what failed (a driver's message names the host and port)."""
    if isinstance(exc, DatabaseError):
        return "database unavailable"
    if type(exc).__module__.startswith("redis"):
        return "redis unavailable"
    if type(exc) is RuntimeError:
        return str(exc)
    return type(exc).__name__


CHECKS = {"database": check_database, "redis": check_redis, "migrations": check_migrations, "worker": check_worker}


@require_GET
def readyz(request):
    skip = set(request.GET.get("skip", "").split(",")) - {""}
    unknown = skip - CHECKS.keys()
    if unknown:
        return JsonResponse({"error": f"unknown check(s): {', '.join(sorted(unknown))}; known: {', '.join(CHECKS)}"}, status=400)
    results, failed = {}, []
    for name, check in CHECKS.items():
        if name in skip:
            results[name] = "skipped"
            continue
        try:
            results[name] = check()
        except Exception as exc:  # any failure means "not ready", with the reason
            results[name] = f"error: {_reason(exc)}"
            failed.append(name)
    return JsonResponse({"status": "error" if failed else "ok", "failed": failed, "checks": results}, status=503 if failed else 200)


def worker_alive(hostname: str | None = None) -> bool:
    """Whether a django-q2 cluster on this host reported itself to the broker (every cluster
    refreshes its stat every few seconds, with a 3 s expiry). Needs the Redis broker: the ORM
    broker keeps stats in the process-local cache."""
    import socket

    from django_q.status import Stat

    host = hostname or socket.gethostname()
    return any(getattr(stat, "host", None) == host for stat in Stat.get_all())


def main(argv: list[str]) -> int:
    """`python -m cleara.health worker-alive`: the worker container's liveness probe (exit 0 = alive)."""
    import os

    import django

    if argv != ["worker-alive"]:
        print("usage: python -m cleara.health worker-alive")
        return 64
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
    django.setup()
    alive = worker_alive()
    print("worker alive" if alive else "no worker cluster on this host reported in the last seconds")
    return 0 if alive else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
