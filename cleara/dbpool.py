"""The PostgreSQL connection pool across fork().

Django keeps one psycopg_pool.ConnectionPool per database alias and process, in a class attribute
of the PostgreSQL backend, created at the first connection. A process that forks after it has
connected (django-q2's cluster forks its sentinel, and the sentinel its workers, monitor and
pusher) hands its children a copy of that pool: idle connections whose sockets the parent still
uses, and background threads that do not exist in the child, so the child's first `getconn()`
would either talk over the parent's socket or wait for a thread that never runs.

After a fork the child forgets what it inherited: the pool objects and any connection a wrapper
still holds are kept referenced here (never closed: psycopg only closes a connection in the
process that opened it, so nothing is sent on the parent's sockets) and the next query builds a
fresh pool in the child.
"""
from __future__ import annotations

import os

_inherited: list[object] = []


def forget_inherited_pools() -> None:
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    pools = DatabaseWrapper._connection_pools
    _inherited.extend(pools.values())
    pools.clear()
    for wrapper in connections.all(initialized_only=True):
        if wrapper.vendor == "postgresql" and wrapper.connection is not None:
            _inherited.append(wrapper.connection)
            wrapper.connection = None
            wrapper.in_atomic_block = False
            wrapper.needs_rollback = False
            wrapper.savepoint_ids = []
            wrapper.closed_in_transaction = False


def pool_stats() -> dict[str, int]:
    """This process's pool figures (psycopg_pool's get_stats plus size): empty without a pool."""
    from django.db import connection

    pool = getattr(connection, "pool", None)
    if pool is None:
        return {}
    return {**pool.get_stats(), "min_size": pool.min_size, "max_size": pool.max_size}


os.register_at_fork(after_in_child=forget_inherited_pools)
