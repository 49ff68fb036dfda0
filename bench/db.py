"""A throwaway database for a benchmark: created next to DATABASE_URL's (PostgreSQL) and dropped
afterwards, or a temporary SQLite file when DATABASE_URL is not PostgreSQL."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit


def _admin_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)


@contextlib.contextmanager
def bench_database(name: str, *, keep: bool = False) -> Iterator[dict]:
    """Yield an environment (a copy of os.environ) whose DATABASE_URL names a fresh database."""
    env = dict(os.environ)
    url = env.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        db = f"cleara_bench_{name}_{os.getpid()}"
        with _admin_connect(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
            conn.execute(f'CREATE DATABASE "{db}"')
        env["DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/{db}"))
        try:
            yield env
        finally:
            if not keep:
                with _admin_connect(url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    else:
        with tempfile.TemporaryDirectory(prefix=f"cleara_bench_{name}_") as tmp:
            env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
            yield env


def named_database(name: str, *, recreate: bool = False) -> str:
    """The URL of a kept database called `name` beside DATABASE_URL's (PostgreSQL; the local server
    when DATABASE_URL is not PostgreSQL), created if missing, or dropped and created anew."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        base = "postgres://postgres@127.0.0.1:5432/postgres"
    with _admin_connect(base) as conn:
        if recreate:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if recreate or not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
