"""What the event partitions' fillfactor does to templating's update of the log lines (issue 11).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/fillfactor.py \
        [--fillfactors 100,90,85] [--events 200000] [--log-share 0.2] [--batch 1000] [--repeat 2]

The worker's templating stage (correlation.templating.events_template_save) writes every log
line's template id and parameters right after the request's COPY stored it. With full pages
(fillfactor 100) each of those updates is a new row version on another page, with an entry in
every index of the events table; with room left on the page (EVENT_PARTITION_FILLFACTOR below
100) it can be a HOT update: same page, no index entry. Here, in a fresh database migrated like
production (`cleara_bench_ff_<pid>`, dropped after), a table with the events table's columns,
defaults and seven indexes is filled with `--events` rows in time order (`--log-share` of them log
lines, the rest metric points), then the log lines are updated as the stage does, `--batch` at a
time (one UPDATE from arrays per batch). Each fillfactor runs `--repeat` times, alternating. Prints
the update's wall time, the share of HOT updates and the table's size before and after.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402

FILL = """
INSERT INTO t_ff (id, timestamp, received_at, type, severity, message, metric, value, host, fingerprint, attributes, source, service_id)
SELECT g, now() - (%(n)s - g) * interval '100 ms', now(), CASE WHEN g %% %(every)s = 0 THEN 'log' ELSE 'metric' END, 'info',
       CASE WHEN g %% %(every)s = 0 THEN 'connection to db-' || (g %% 17) || ' failed after ' || (g %% 1000) || ' ms: timeout reading the response'
            ELSE '' END,
       CASE WHEN g %% %(every)s = 0 THEN '' ELSE 'cpu_usage' END, g * 0.1, 'host-' || (g %% 9), '', '{"k": "v"}', 'api', 1 + g %% 21
FROM generate_series(1, %(n)s) g
"""
UPDATE = ("UPDATE t_ff AS e SET template_id = v.template_id, template_params = v.params "
          "FROM unnest(%s::bigint[], %s::bigint[], %s::jsonb[]) AS v(id, template_id, params) WHERE e.id = v.id")


def run_once(conn, fillfactor: int, args) -> dict:
    every = max(1, round(1 / args.log_share))
    conn.execute("DROP TABLE IF EXISTS t_ff")
    conn.execute(f"CREATE TABLE t_ff (LIKE incidents_event INCLUDING DEFAULTS INCLUDING INDEXES) WITH (fillfactor = {fillfactor})")
    conn.execute(FILL, {"n": args.events, "every": every})
    conn.execute("VACUUM ANALYZE t_ff")
    before = conn.execute("SELECT pg_relation_size('t_ff')").fetchone()[0]
    ids = [r[0] for r in conn.execute("SELECT id FROM t_ff WHERE type = 'log' ORDER BY id")]
    started = time.perf_counter()
    for i in range(0, len(ids), args.batch):
        chunk = ids[i:i + args.batch]
        conn.execute(UPDATE, [chunk, [pk % 39 for pk in chunk], [f'["db-{pk % 17}", "{pk % 1000}"]' for pk in chunk]])
    wall = time.perf_counter() - started
    conn.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(0.6)
    upd, hot = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 't_ff'").fetchone()
    after = conn.execute("SELECT pg_relation_size('t_ff')").fetchone()[0]
    return {"wall": wall, "logs": len(ids), "hot": hot / max(1, upd), "before": before, "after": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fillfactors", default="100,90,85")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--log-share", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=1000, help="log lines per UPDATE (a worker batch)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server (fillfactor and HOT updates are PostgreSQL's)")
    factors = [int(f) for f in args.fillfactors.split(",")]
    import psycopg

    with bench_database("ff") as env:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env={**env, "LOG_LEVEL": "WARNING"}, check=True)
        print(f"{args.events:,} events, {args.log_share:.0%} log lines, updated {args.batch} a statement; load {os.getloadavg()[0]:.1f}")
        print(f"{'fillfactor':>10} {'run':>4} {'update s':>9} {'us/line':>8} {'HOT':>6} {'MB before':>10} {'MB after':>9}")
        results: dict[int, list[dict]] = {f: [] for f in factors}
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            for rep in range(args.repeat):
                for f in (factors if rep % 2 == 0 else factors[::-1]):
                    r = run_once(conn, f, args)
                    results[f].append(r)
                    print(f"{f:>10} {rep + 1:>4} {r['wall']:>9.2f} {r['wall'] / r['logs'] * 1e6:>8.1f} {r['hot']:>6.0%} "
                          f"{r['before'] / 2**20:>10.1f} {r['after'] / 2**20:>9.1f}", flush=True)
            conn.execute("DROP TABLE IF EXISTS t_ff")
        base = min(r["wall"] for r in results[factors[0]])
        for f in factors:
            best = min(r["wall"] for r in results[f])
            print(f"fillfactor {f}: best update {best:.2f} s ({base / best:.2f}x fillfactor {factors[0]}'s best); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
