#!/usr/bin/env python3
"""Ledger size and report time against traffic, on SQLite and PostgreSQL.

Generates a month of traffic straight into a fresh ledger, as the gateway writes it: one record per billed
answer (a miss: 10 tokens, a content key; the ledger's trigger counts it per hour too; on PostgreSQL in the
month's partition) and, for what billed nothing (hits, 1 % errors), hourly counts
per tenant, key, outcome and hour plus hourly key counts (`--keys` distinct content keys per tenant and
hour) — or, with `--records all`, one record per request, as before counts. The schema is Deja's own: the
ledger is created by `deja keys create`. Then it starts `deja serve` on the ledger and times
`GET /v1/usage` for one tenant over the month (the report `deja usage` and the dashboard run), and prints
the ledger's bytes per request and per hit.

    DEJA_BIN=.build/release/deja python3 scripts/bench-ledger.py --backend sqlite --requests 1e6 1e7 1e8
    DEJA_POSTGRES_URL=postgres://deja:deja@127.0.0.1:15432/deja python3 scripts/bench-ledger.py --backend postgres ...

Needs `psql` for PostgreSQL. Traffic: `--tenants` tenants with two keys each, one task, `--miss-ratio`
misses (default 0.1), 1 % errors, the rest hits, spread evenly over January 2026.
"""
import argparse
import base64
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

MONTH_START = 1_767_225_600          # 2026-01-01T00:00:00Z
HOURS = 31 * 24
ADMIN = "bench-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ledger:
    """A fresh ledger on one backend, created by Deja itself, and SQL run on it directly."""

    def __init__(self, backend: str, deja: str, folder: Path):
        self.backend, self.deja, self.folder = backend, deja, folder
        self.port = free_port()
        storage = {"path": str(folder / "data")}
        if backend == "postgres":
            self.url = os.environ["DEJA_POSTGRES_URL"]
            self.schema = "bench_" + uuid.uuid4().hex[:12]
            storage["ledger"] = f"{self.url}?schema={self.schema}"
        config = {
            "server": {"host": "127.0.0.1", "port": self.port},
            "storage": storage, "adminToken": ADMIN, "logLevel": "warning",
            "tasks": [{"name": "ocr", "route": "/ocr", "upstream": "http://127.0.0.1:9/ocr",
                       "model": {"name": "PP-OCRv4", "version": "bench"}}],
        }
        self.config = folder / "deja.yaml"
        self.config.write_text(json.dumps(config))
        # A shared ledger needs seal secrets set (nothing is sealed here: no answer is stored).
        self.env = {**os.environ, "DEJA_SEAL_SECRETS": "bench " + base64.b64encode(os.urandom(32)).decode()}
        subprocess.run([deja, "keys", "create", "--tenant", "t000", "--quiet", "--config", str(self.config)],
                       check=True, capture_output=True, env=self.env)

    def sql(self, statements: list[str]) -> None:
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.folder / "data" / "ledger.sqlite", timeout=60)
            for statement in statements:
                connection.execute(statement)
            connection.commit()
            connection.close()
        else:
            script = f"SET search_path TO {self.schema};\n" + ";\n".join(statements) + ";\n"
            subprocess.run(["psql", self.url, "-q", "-v", "ON_ERROR_STOP=1"], input=script.encode(), check=True)

    def scalar(self, query: str) -> float:
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.folder / "data" / "ledger.sqlite", timeout=60)
            value = connection.execute(query).fetchone()[0]
            connection.close()
            return value
        out = subprocess.run(["psql", self.url, "-At", "-c", f"SET search_path TO {self.schema}; {query}"],
                             check=True, capture_output=True).stdout.decode().split()
        return float(out[-1])

    def bytes(self, tables: list[str]) -> int:
        """Bytes the tables take with their indexes (SQLite: the whole file, as it only grew by them)."""
        if self.backend == "sqlite":
            connection = sqlite3.connect(self.folder / "data" / "ledger.sqlite")
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                return connection.execute("PRAGMA page_count").fetchone()[0] * connection.execute("PRAGMA page_size").fetchone()[0]
            finally:
                connection.close()
        self.sql(["VACUUM ANALYZE usage", "VACUUM ANALYZE usage_records_hourly", "VACUUM ANALYZE usage_hourly", "VACUUM ANALYZE usage_keys"])
        # `usage` is partitioned by month: its size is its partitions' (pg_partition_tree lists a plain table's none).
        return int(sum(self.scalar(f"SELECT pg_total_relation_size('{self.schema}.{t}') + "
                                   f"(SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('{self.schema}.{t}'))")
                       for t in tables))

    def prepare_month(self) -> None:
        """The month's partition, as a gateway running then would have added it (PostgreSQL)."""
        if self.backend == "postgres":
            self.sql([f"CREATE TABLE usage_2026_01 PARTITION OF usage FOR VALUES FROM ({MONTH_START}) TO ({MONTH_START + HOURS * 3600})"])

    def drop(self) -> None:
        if self.backend == "postgres":
            subprocess.run(["psql", self.url, "-q", "-c", f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"], check=True, capture_output=True)


def series(backend: str, n: int, body: str, table: str, columns: str) -> str:
    """INSERT INTO table(columns) SELECT body FROM i = 0..n-1."""
    if backend == "sqlite":
        return (f"INSERT INTO {table} ({columns}) WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1}) "
                f"SELECT {body} FROM s")
    return f"INSERT INTO {table} ({columns}) SELECT {body} FROM generate_series(0, {n - 1}) AS s(i)"


def generate(ledger: Ledger, requests: int, tenants: int, miss_ratio: float, keys: int, records: str) -> dict:
    b = ledger.backend
    blob = "randomblob(32)" if b == "sqlite" else "decode(md5(i::text) || md5((i + 7)::text), 'hex')"
    tenant = "printf('t%03d', i % {t})" if b == "sqlite" else "'t' || lpad((i % {t})::text, 3, '0')"
    key_id = "printf('key_%03d_%d', i % {t}, (i / {t}) % 2)" if b == "sqlite" else "'key_' || lpad((i % {t})::text, 3, '0') || '_' || ((i / {t}) % 2)::text"
    errors = requests // 100
    misses = int(requests * miss_ratio)
    hits = requests - misses - errors
    columns = "time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds, content_key"

    def records_of(n: int, outcome: str, billed: int, status: int) -> str:
        # n requests evenly over the month, round-robin over tenants and keys.
        time_expr = f"{MONTH_START} + (i * {HOURS * 3600.0}) / {n}"
        metered = 0 if outcome == "error" else 10
        body = (f"{time_expr}, {tenant.format(t=tenants)}, {key_id.format(t=tenants)}, 'ocr', '{outcome}', {metered}, {billed}, "
                f"1500, {status}, 0.5, {blob}")
        return series(b, n, body, "usage", columns)

    ledger.prepare_month()
    empty = ledger.bytes(["usage", "usage_records_hourly"])
    statements = [records_of(misses, "miss", 10, 200)]
    if records == "all":
        statements += [records_of(hits, "hit", 0, 200), records_of(errors, "error", 0, 502)]
    t0 = time.monotonic()
    ledger.sql(statements)
    record_seconds = time.monotonic() - t0
    # Records with their hourly counts (kept by a trigger as they are inserted).
    record_bytes = ledger.bytes(["usage", "usage_records_hourly"]) - (empty if b == "sqlite" else 0)
    count_bytes = 0
    if records == "billed":
        # Per tenant, key and hour: one hit count and one error count; per tenant and hour, `keys` key counts.
        groups = tenants * 2 * HOURS
        hour = f"{MONTH_START} + (i / {tenants * 2}) * 3600"
        tk = "printf('t%03d', i % {t})" if b == "sqlite" else "'t' || lpad((i % {t})::text, 3, '0')"
        kk = ("printf('key_%03d_%d', i % {t}, (i / {t}) % 2)" if b == "sqlite"
              else "'key_' || lpad((i % {t})::text, 3, '0') || '_' || ((i / {t}) % 2)::text")
        hourly = "hour, tenant, key_id, task, outcome, status, requests, metered, billed, saved, model_seconds_saved"
        def spread(total: int, rows: int) -> tuple[int, str]:
            """`total` requests over `rows` groups as evenly as they go: the rows to write and each one's share."""
            share, rest = divmod(total, rows)
            return (rows if share else rest), f"({share} + CASE WHEN i < {rest} THEN 1 ELSE 0 END)"

        hit_rows, per_hit = spread(hits, groups)
        error_rows, per_error = spread(errors, groups)
        statements = [
            series(b, hit_rows, f"{hour}, {tk.format(t=tenants)}, {kk.format(t=tenants)}, 'ocr', 'hit', 200, {per_hit}, "
                                f"10 * {per_hit}, 0, 10 * {per_hit}, 0.5 * {per_hit}", "usage_hourly", hourly),
            series(b, error_rows, f"{hour}, {tk.format(t=tenants)}, {kk.format(t=tenants)}, 'ocr', 'error', 502, {per_error}, "
                                  f"0, 0, 0, 0", "usage_hourly", hourly),
        ]
        key_groups = tenants * HOURS * keys
        key_hour = f"{MONTH_START} + (i / {tenants * keys}) * 3600"
        key_rows, per_key = spread(hits, key_groups)
        statements.append(series(
            b, key_rows, f"{key_hour}, {tk.format(t=tenants)}, 'ocr', {blob}, {per_key}, {per_key}, 10 * {per_key}, "
                         f"{key_hour} + 1, {key_hour} + 3599", "usage_keys",
            "hour, tenant, task, content_key, requests, cached, saved, first_seen, last_seen"))
        t0 = time.monotonic()
        ledger.sql(statements)
        record_seconds += time.monotonic() - t0
        count_bytes = (ledger.bytes([]) - empty - record_bytes) if b == "sqlite" else ledger.bytes(["usage_hourly", "usage_keys"])
    return {"requests": requests, "misses": misses, "hits": hits, "record_bytes": record_bytes, "count_bytes": count_bytes,
            "generate_seconds": round(record_seconds, 1)}


def time_report(ledger: Ledger, runs: int) -> tuple[list[float], dict]:
    proc = subprocess.Popen([ledger.deja, "serve", "--config", str(ledger.config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ledger.env)
    try:
        url = f"http://127.0.0.1:{ledger.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        query = f"{url}/v1/usage?tenant=t000&from=2026-01-01&to=2026-01-31"
        request = urllib.request.Request(query, headers={"Authorization": f"Bearer {ADMIN}"})
        timings = []
        report = None
        for _ in range(runs + 1):  # the first warms the caches and is not counted
            started = time.perf_counter()
            report = json.loads(urllib.request.urlopen(request, timeout=600).read())
            timings.append((time.perf_counter() - started) * 1000)
        return timings[1:], report["totals"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=float, nargs="+", default=[1e6])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--miss-ratio", type=float, default=0.1)
    parser.add_argument("--keys", type=int, default=20, help="distinct content keys hit per tenant and hour")
    parser.add_argument("--records", choices=["billed", "all"], default="billed")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    deja = os.environ.get("DEJA_BIN", str(Path(__file__).resolve().parent.parent / ".build/release/deja"))
    print(f"backend {args.backend}, usage.records {args.records}, {args.tenants} tenants x 2 keys, miss ratio {args.miss_ratio}, "
          f"1 % errors, {args.keys} keys/tenant/hour, January 2026; report: one tenant over the month, median of {args.runs}")
    print("| requests | records | records MB | counts MB | bytes/request | bytes/hit (counts) | report ms (median, min) | generated in |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for requests in args.requests:
        with tempfile.TemporaryDirectory(prefix="deja-bench-ledger-") as folder:
            ledger = Ledger(args.backend, deja, Path(folder))
            try:
                figures = generate(ledger, int(requests), args.tenants, args.miss_ratio, args.keys, args.records)
                timings, totals = time_report(ledger, args.runs)
            finally:
                ledger.drop()
        total = figures["record_bytes"] + figures["count_bytes"]
        per_hit = f"{figures['count_bytes'] / figures['hits']:.2f}" if figures["count_bytes"] else "-"
        rows = figures["misses"] if args.records == "billed" else figures["requests"]
        print(f"| {figures['requests']:,} | {rows:,} | {figures['record_bytes'] / 1e6:,.1f} | {figures['count_bytes'] / 1e6:,.1f} | "
              f"{total / figures['requests']:.1f} | {per_hit} | "
              f"{statistics.median(timings):.1f}, {min(timings):.1f} | {figures['generate_seconds']} s |", flush=True)
        print(f"  (tenant t000's report: {totals['requests']:,} requests, {totals['hits']:,} hits, {totals['billedTokens']:,} billed)",
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
