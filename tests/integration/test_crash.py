"""Crash safety of billing: SIGKILL the gateway under load, restart it on the same storage, and reconcile
the ledger with what the client saw.

What is guaranteed, and what these tests hold the gateway to:

* A billed answer (a miss: `x-deja-billed-tokens` > 0) is committed to the ledger (SQLite,
  `synchronous=FULL`) *before* its response is written. So every billed answer a client received is in
  the ledger after a crash, exactly once, with the tokens its header showed.
* Requests that bill nothing (hits at the default price 0, errors) have no record: they are counted in
  memory per hour and the counts are added to the ledger every 200 ms (`usage_hourly`). A crash loses the
  counts of the last flush interval's hits: allowed, they bill nothing. They are never billed, and hits
  answered well before the kill (1 s here, five flush intervals) are all counted.
* A request **in flight at the kill** (sent, no complete answer) is in one of two states:
    - not billed: the process died before the commit (waiting for the model, in the model, or in the
      commit itself). Nothing is recorded; nothing was stored in the cache, so a retry is a fresh miss
      billed once.
    - billed, answer lost: the record (and, with an `Idempotency-Key`, the answer itself, in the same
      transaction) was committed, then the process died before the client got the response. The client
      saw a connection error and may retry. With the same `Idempotency-Key` the retry gets the stored
      answer back (`x-deja-idempotent-replay: true`) billed 0, so the request is billed exactly once.
      Without one the retry is a new request: a hit billed 0 if the answer reached the cache before the
      kill, otherwise a miss billed again. Clients that must not pay twice send an `Idempotency-Key`.
* A request not sent before the kill (or refused while the gateway was down) leaves no record at all.
* The ledger holds no billed record for a request the client did not get an answer to, other than those
  in flight at the kill.

The first test kills the gateway at a moment chosen by the load (right after the client received the
answer that brings the received misses to 40 %), the harshest moment for a billed record written after
its response: such a record would be missing (hit counts, which are written after their response, do go
missing at this moment). In-flight requests there are nearly always unbilled: the window between the
commit and the response (the cache write, the response write) is short next to the ~100 ms between the
serial model's answers. The second test makes the "billed, answer lost" state certain: it holds the
write lock of the cache file, so misses commit their billed record and then wait on the cache write that
comes before the response, and kills the gateway there.

Attribution: a usage record carries tenant and key id but no request id, so every miss is sent by its own
tenant (one key per tenant) with a body no other request has. The ledger is read twice after the restart:
through the product's report (`GET /v1/usage` with the admin token, per tenant), and record by record from
`ledger.sqlite` opened read-only, to check key ids and that no request has two records.
"""
import json
import sqlite3
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from conftest import Gateway, http, ocr_body, text_image

ADMIN = {"Authorization": "Bearer test-admin-token"}
# Small images read at a small side: a miss costs the model ~130 ms instead of ~1 s.
FAST = {"textDetLimitType": "max", "textDetLimitSideLen": 320}

NOT_SENT = "not sent"        # never reached the gateway: not started before the kill, or refused
IN_FLIGHT = "in flight"      # sent, and the connection broke before a complete answer
ANSWERED = "answered"        # a complete HTTP response


@dataclass
class Job:
    kind: str                   # "miss" or "hit"
    tenant: str
    body: bytes
    idempotency_key: str | None = None
    state: str = NOT_SENT
    status: int | None = None
    headers: dict = field(default_factory=dict)
    answer: bytes = b""
    error: str = ""
    answered_at: float = 0.0    # time.monotonic() when the complete answer arrived

    @property
    def billed(self) -> int:
        return int(self.headers.get("x-deja-billed-tokens", "0")) if self.state == ANSWERED else 0

    def request_headers(self, **extra) -> dict:
        headers = {"Idempotency-Key": self.idempotency_key} if self.idempotency_key else {}
        headers.update(extra)
        return headers


def send(gw: Gateway, job: Job, stop: threading.Event | None = None) -> Job:
    if stop is not None and stop.is_set():
        return job  # not sent: the gateway is already dead
    job.state = IN_FLIGHT
    try:
        job.status, job.headers, job.answer = gw.post(job.body, tenant=job.tenant, headers=job.request_headers())
        job.state = ANSWERED
        job.answered_at = time.monotonic()
    except Exception as error:  # noqa: BLE001 - every transport failure is classified below
        reason = getattr(error, "reason", error)  # urllib wraps socket errors in URLError
        job.error = repr(error)
        job.state = NOT_SENT if isinstance(reason, ConnectionRefusedError) else IN_FLIGHT
    return job


def create_keys(gw: Gateway, tenants: list[str]) -> None:
    gw.key(tenants[0])  # the first CLI run creates the ledger file; the rest may run side by side
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(gw.key, tenants[1:]))


def kill(gw: Gateway) -> int:
    gw.proc.kill()  # SIGKILL: no shutdown, no final flush
    code = gw.proc.wait(timeout=30)
    gw.proc = None
    gw.log.close()
    return code


def assert_ready(gw: Gateway) -> None:
    status, _, body = http("GET", gw.url + "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready", (status, body)


@dataclass
class Record:
    tenant: str
    key_id: str
    outcome: str
    billed: int
    status: int


def ledger(gw: Gateway) -> tuple[dict[str, list[Record]], dict[str, str]]:
    """Every usage record by tenant, and each tenant's key id, read from the ledger file (read-only).
    Requests counted per hour instead (hits) are in `counted`."""
    path = gw.storage / "data" / "ledger.sqlite"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        records = defaultdict(list)
        for row in connection.execute("SELECT tenant, key_id, outcome, billed, status FROM usage ORDER BY id"):
            records[row[0]].append(Record(*row))
        key_ids = dict(connection.execute("SELECT tenant, id FROM api_keys"))
    finally:
        connection.close()
    return records, key_ids


def counted(gw: Gateway) -> dict[str, dict[str, int]]:
    """Per tenant and outcome, the requests counted per hour instead of recorded (read-only)."""
    path = gw.storage / "data" / "ledger.sqlite"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for tenant, outcome, billed, requests in connection.execute(
                "SELECT tenant, outcome, sum(billed), sum(requests) FROM usage_hourly GROUP BY tenant, outcome"):
            assert billed == 0, (tenant, outcome, billed)  # what is counted bills nothing
            counts[tenant][outcome] = requests
    finally:
        connection.close()
    return counts


def billed_records(gw: Gateway, tenants: set[str]) -> int:
    records, _ = ledger(gw)
    return sum(1 for tenant in tenants for r in records.get(tenant, []) if r.billed > 0)


def report(gw: Gateway) -> tuple[dict[str, dict], dict]:
    """The product's usage report for every tenant: per-tenant sums of its rows, and the totals."""
    status, _, body = http("GET", gw.url + "/v1/usage", headers=ADMIN)
    assert status == 200, body
    usage = json.loads(body)
    tenants: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for row in usage["rows"]:
        for name in ("requests", "hits", "misses", "errors", "billedTokens"):
            tenants[row["tenant"]][name] += row[name]
    return tenants, usage["totals"]


def result_of(body: bytes):
    return json.loads(body)["result"]


MISSES = 80
HITS_PER_MISS = 2
CLIENTS = 12
KILL_AT = MISSES * 2 // 5   # kill once this many misses were answered to the client


def test_sigkill_under_mixed_load_bills_every_received_answer_exactly_once(worker, tmp_path):
    gw = Gateway(worker.url, tmp_path, task={"scope": "shared"})  # tenant "hits" reads what "primer" stored
    miss_tenants = [f"m{i:03d}" for i in range(MISSES)]
    create_keys(gw, ["primer", "hits", *miss_tenants])
    gw.start()
    try:
        # The hit body, answered by the model (billed to "primer") before the load.
        hot = ocr_body(text_image("CRASH HOT"), **FAST)
        status, headers, _ = gw.post(hot, tenant="primer")
        assert status == 200 and headers["x-deja-cache"] == "miss", headers

        # One miss per tenant, each body unique; every other one carries an Idempotency-Key. Two hits of
        # the hot body (tenant "hits") after each miss.
        misses = [Job("miss", tenant, ocr_body(text_image(f"CRASH {i:03d}"), **FAST),
                      idempotency_key=f"crash-{tenant}" if i % 2 == 0 else None)
                  for i, tenant in enumerate(miss_tenants)]
        jobs = []
        for job in misses:
            jobs.append(job)
            jobs.extend(Job("hit", "hits", hot) for _ in range(HITS_PER_MISS))

        stop = threading.Event()
        received = 0
        killed_at = 0.0
        count_lock = threading.Lock()

        def client(job: Job) -> None:
            nonlocal received, killed_at
            send(gw, job, stop)
            if job.kind == "miss" and job.state == ANSWERED and job.billed > 0:
                with count_lock:
                    received += 1
                    if received == KILL_AT:
                        stop.set()          # nothing new is sent from here on
                        killed_at = time.monotonic()
                        gw.proc.kill()      # SIGKILL right after this answer arrived

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(client, jobs))
        load_seconds = time.monotonic() - started
        assert stop.is_set(), "the load ended before the kill"
        assert kill(gw) == -9

        by_state = defaultdict(list)
        for job in misses:
            by_state[job.state].append(job)
        answered, in_flight, not_sent = by_state[ANSWERED], by_state[IN_FLIGHT], by_state[NOT_SENT]
        hits_sent = [j for j in jobs if j.kind == "hit" and j.state != NOT_SENT]
        hits_answered = [j for j in hits_sent if j.state == ANSWERED]
        print(f"\nload {load_seconds:.1f}s: misses answered {len(answered)}, in flight {len(in_flight)}, "
              f"not sent {len(not_sent)}; hits answered {len(hits_answered)} of {len(hits_sent)} sent")

        # What the client saw before the kill: every answer complete and correct.
        for job in answered:
            assert job.status == 200, (job.tenant, job.status, job.answer[:200])
            assert job.headers["x-deja-cache"] == "miss", job.headers
            assert job.billed == int(job.headers["x-deja-tokens"]) > 0, job.headers
        for job in hits_answered:
            assert job.status == 200 and job.headers["x-deja-cache"] == "hit" and job.billed == 0, job.headers
        assert len(answered) >= KILL_AT  # answers completing just as the kill came count too
        assert in_flight, "nothing was in flight at the kill: it was not mid-run"
        assert not_sent, "every request was sent before the kill: it was not mid-run"

        # Restart on the same storage after the SIGKILL.
        gw.start()
        assert_ready(gw)

        records, key_ids = ledger(gw)
        per_tenant, totals = report(gw)
        assert len(set(key_ids.values())) == len(key_ids), "one key per tenant"

        def billed_of(tenant: str) -> list[Record]:
            return [r for r in records.get(tenant, []) if r.billed > 0]

        # 1. Every billed answer the client received is in the ledger exactly once, with its tokens.
        for job in answered:
            rows = records.get(job.tenant, [])
            assert len(rows) == 1, (job.tenant, rows)
            (row,) = rows
            assert (row.outcome, row.billed, row.status) == ("miss", job.billed, 200), (job.tenant, row)
            assert row.key_id == key_ids[job.tenant]
            summary = per_tenant[job.tenant]
            assert (summary["requests"], summary["misses"], summary["billedTokens"]) == (1, 1, job.billed), \
                (job.tenant, dict(summary))

        # 2. No request is billed twice; a request in flight has at most its one record, a billed miss.
        for tenant in miss_tenants:
            assert len(billed_of(tenant)) <= 1, (tenant, records[tenant])
        billed_lost = []
        for job in in_flight:
            rows = records.get(job.tenant, [])
            assert len(rows) <= 1, (job.tenant, rows)
            if rows:
                assert (rows[0].outcome, rows[0].billed) == ("miss", 10), (job.tenant, rows)
                billed_lost.append(job)
        # A request the gateway never saw left nothing.
        for job in not_sent:
            assert job.tenant not in records, (job.tenant, records[job.tenant])

        # 3. No billed record without an answer the client received, other than those in flight.
        received_tenants = {job.tenant for job in answered}
        in_flight_tenants = {job.tenant for job in in_flight}
        billed_tenants = {tenant for tenant, rows in records.items() if any(r.billed > 0 for r in rows)}
        assert billed_tenants - received_tenants - {"primer"} <= in_flight_tenants, \
            sorted(billed_tenants - received_tenants - in_flight_tenants - {"primer"})
        assert [(r.outcome, r.billed) for r in records["primer"]] == [("miss", 10)]

        # Hits bill nothing: no record, a count. The counts of the last flush interval may be lost, never
        # invented; hits answered a second (five flush intervals) before the kill are all counted.
        assert "hits" not in records, records["hits"]
        hit_counts = counted(gw)
        assert set(hit_counts) <= {"hits"} and set(hit_counts.get("hits", {})) <= {"hit"}, dict(hit_counts)
        hits_counted = hit_counts.get("hits", {}).get("hit", 0)
        assert hits_counted <= len(hits_sent)
        settled = sum(1 for job in hits_answered if job.answered_at < killed_at - 1.0)
        assert hits_counted >= settled, (hits_counted, settled)
        print(f"billed in flight (answer lost) {len(billed_lost)}; hits counted {hits_counted} of {len(hits_answered)} "
              f"answered ({settled} a second before the kill); lost in the crash {max(0, len(hits_answered) - hits_counted)}")

        # The ledger's total is what the client was told, plus what was billed and lost in flight.
        told = sum(job.billed for job in answered) + 10  # + the primer's miss
        assert totals["billedTokens"] == told + 10 * len(billed_lost), (totals, told, len(billed_lost))

        # After the restart, the client retries and checks its answers.
        cache_write_failed = "cache write failed" in gw.log_path.read_text()

        def retry(job: Job, **extra):
            return gw.post(job.body, tenant=job.tenant, headers=job.request_headers(**extra))

        # What each request has been billed in all, retries included.
        lost = {job.tenant for job in billed_lost}
        billed_in_all = {job.tenant: job.billed for job in answered}
        billed_in_all.update({job.tenant: 10 if job.tenant in lost else 0 for job in in_flight + not_sent})
        retried_billed = 0
        for job in answered:
            if job.idempotency_key:
                # The same key, even asking for a fresh answer: the stored answer, billed 0.
                status, headers, body = retry(job, **{"Cache-Control": "no-cache"})
                assert status == 200 and headers.get("x-deja-idempotent-replay") == "true", (job.tenant, headers)
                assert headers["x-deja-billed-tokens"] == "0"
                assert headers["x-deja-key"] == job.headers["x-deja-key"]
                assert result_of(body) == result_of(job.answer)
            else:
                # The answer was stored in the cache (SQLite) before the response was written, so the same
                # body is a hit now -- unless the gateway logged that the cache write failed.
                status, headers, body = retry(job)
                assert status == 200, body
                if not cache_write_failed:
                    assert headers["x-deja-cache"] == "hit" and headers["x-deja-billed-tokens"] == "0", (job.tenant, headers)
                    assert result_of(body) == result_of(job.answer)
            retried_billed += int(headers["x-deja-billed-tokens"])
            billed_in_all[job.tenant] += int(headers["x-deja-billed-tokens"])

        double_billed = 0
        for job in in_flight + not_sent[:4]:
            status, headers, body = retry(job)
            assert status == 200, body
            billed = int(headers["x-deja-billed-tokens"])
            retried_billed += billed
            billed_in_all[job.tenant] += billed
            if job.tenant not in lost:
                # Not billed before the kill, so not in the cache either: a fresh miss, billed once.
                assert headers["x-deja-cache"] == "miss" and billed == 10, (job.tenant, headers)
            elif job.idempotency_key:
                assert headers.get("x-deja-idempotent-replay") == "true" and billed == 0, (job.tenant, headers)
            else:
                # Billed, answer lost, retried without a key: a new request (a hit if the answer was cached).
                assert headers["x-deja-cache"] in ("hit", "miss"), headers
                double_billed += billed > 0
        print(f"in-flight billed requests retried without an Idempotency-Key and billed again: {double_billed}")

        # Every retried request has its answer now; the ledger still matches, request by request. A request
        # with an Idempotency-Key is billed exactly once however it fared in the crash.
        per_tenant, totals = report(gw)
        assert totals["billedTokens"] == told + 10 * len(billed_lost) + retried_billed
        for job in answered + in_flight + not_sent[:4]:
            assert per_tenant[job.tenant]["billedTokens"] == billed_in_all[job.tenant], (job.tenant, dict(per_tenant[job.tenant]))
            may_be_billed_again = not job.idempotency_key and (
                job.tenant in lost or (job.state == ANSWERED and cache_write_failed))
            if not may_be_billed_again:
                assert billed_in_all[job.tenant] == 10, (job.tenant, billed_in_all[job.tenant])
        assert_ready(gw)
    finally:
        gw.stop()


def test_a_request_billed_whose_answer_was_lost_at_the_kill_is_replayed_by_its_idempotency_key(worker, tmp_path):
    # tenant "check" compares keys with the others; `writeBehind: false` writes each answer to the cache file
    # before its response, so holding that file's write lock holds billed answers short of their clients.
    gw = Gateway(worker.url, tmp_path, task={"scope": "shared"}, stores={"writeBehind": False})
    tenants = [f"s{i}" for i in range(6)]
    create_keys(gw, [*tenants, "check"])
    gw.start()
    lock = None
    try:
        # All but the second carry an Idempotency-Key. They are sent 10 ms apart, so the model answers them
        # in this order, and all of them have looked the cache up before the first answer stalls it.
        jobs = [Job("miss", tenant, ocr_body(text_image(f"STALL {i}"), **FAST),
                    idempotency_key=f"stall-{tenant}" if i != 1 else None)
                for i, tenant in enumerate(tenants)]

        # Hold the cache file's write lock: a miss commits its billed record, then waits on the cache
        # write that precedes its response with writeBehind off (the cache's busy timeout is 2 s; after that the write fails,
        # is logged, and the answer goes out — so the kill below comes well within those 2 s).
        lock = sqlite3.connect(str(gw.storage / "data" / "cache.sqlite"), timeout=0, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")

        pool = ThreadPoolExecutor(max_workers=len(jobs))
        futures = []
        for job in jobs:
            futures.append(pool.submit(send, gw, job))
            time.sleep(0.01)

        # Kill as soon as a request with an Idempotency-Key has its billed record committed: its answer is
        # held up by the cache write. (Waiting for any billed record raced: the model, running several at
        # once, may finish the one request without a key first.)
        keyed = {job.tenant for job in jobs if job.idempotency_key}
        deadline = time.monotonic() + 30
        seen = 0
        while time.monotonic() < deadline and seen == 0:
            seen = billed_records(gw, keyed)
            time.sleep(0.02)
        assert seen > 0, "no miss with an Idempotency-Key was billed while the cache write was held"
        assert not any(f.done() for f in futures), [j.headers for j in jobs if j.state == ANSWERED]

        assert kill(gw) == -9
        lock.execute("ROLLBACK")
        lock.close()
        lock = None
        pool.shutdown(wait=True)
        assert all(job.state == IN_FLIGHT for job in jobs), [(j.tenant, j.state, j.error) for j in jobs]

        gw.start()
        assert_ready(gw)
        records, _ = ledger(gw)
        billed_lost = {t for t in tenants if any(r.billed > 0 for r in records.get(t, []))}
        keyed_lost = [job for job in jobs if job.tenant in billed_lost and job.idempotency_key]
        print(f"\nbilled with the answer lost: {sorted(billed_lost)} (with an Idempotency-Key: "
              f"{[j.tenant for j in keyed_lost]}); not billed: {sorted(set(tenants) - billed_lost)}")
        assert keyed_lost, "a request with an Idempotency-Key should have been billed before the kill"
        for tenant in tenants:
            assert len(records.get(tenant, [])) <= 1, records[tenant]

        calls = worker.ocr_requests()
        fresh = 0
        replays = {}
        for job in jobs:
            status, headers, body = gw.post(job.body, tenant=job.tenant, headers=job.request_headers())
            assert status == 200, body
            billed = int(headers["x-deja-billed-tokens"])
            if job.tenant in billed_lost and job.idempotency_key:
                # Billed once already: the retry gets the answer stored with the record, billed 0.
                assert headers.get("x-deja-idempotent-replay") == "true" and billed == 0, headers
                replays[job.tenant] = (headers["x-deja-key"], result_of(body))
            else:
                # Not billed (nothing stored), or billed without a key (its cache write never happened):
                # the retry is a new request, answered by the model and billed.
                assert headers["x-deja-cache"] == "miss" and billed == 10, (job.tenant, headers)
                assert "x-deja-idempotent-replay" not in headers
                fresh += 1
            assert "ocrResults" in result_of(body), body
        assert worker.ocr_requests() == calls + fresh

        # The replayed answer is the model's answer to that body: the one it gives again now (the body is
        # not in the cache: its write never happened), under the same content key.
        for job in jobs:
            if job.tenant in replays:
                status, headers, body = gw.post(job.body, tenant="check")
                assert status == 200 and headers["x-deja-cache"] == "miss", headers
                assert replays[job.tenant] == (headers["x-deja-key"], result_of(body))

        per_tenant, _ = report(gw)
        for job in jobs:
            twice = job.tenant in billed_lost and not job.idempotency_key
            assert per_tenant[job.tenant]["billedTokens"] == (20 if twice else 10), (job.tenant, dict(per_tenant[job.tenant]))
    finally:
        if lock is not None:
            lock.close()  # lets a gateway stuck on the cache write go on, so it can stop
        gw.stop()
