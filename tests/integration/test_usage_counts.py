"""The ledger at scale: requests that bill nothing (hits, coalesced answers, idempotent replays, errors) are
counted per hour instead of one record each (`usage.records: billed`, the default), and every billed answer
(misses, priced hits, idempotent answers) keeps its record. Reports read both: after a mixed run the usage
report and the CSV export equal the sum of what the answers' x-deja-* headers said, exactly as with one
record per request (`usage.records: all`).
"""
import csv
import io
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Gateway, http, ocr_body, text_image

ADMIN = {"Authorization": "Bearer test-admin-token"}
FAST = {"textDetLimitType": "max", "textDetLimitSideLen": 320}
CACHED = ("hit", "coalesced", "stale")


def priced_task(worker_url: str, records: str) -> dict:
    """An OCR task whose hits cost half the meter: a priced hit is a billed answer with its own record."""
    return {
        "name": "ocr-priced", "route": "/ocr-priced", "upstream": f"{worker_url}/ocr",
        "model": {"name": "PP-OCRv4", "version": "test-1"}, "ttlSeconds": 3600,
        "defaults": {"fileType": 1, "useTextlineOrientation": False, "visualize": False},
        "meter": {"perPage": 10}, "hitPrice": 0.5, "usage": {"records": records},
    }


def mixed_run(gw: Gateway, tenant: str) -> list[tuple[int, dict]]:
    """Misses, hits, coalesced answers, errors, priced hits, idempotent answers and their replays; the
    (status, headers) of every answer."""
    answers = []

    def post(body: bytes, **kwargs):
        status, headers, _ = gw.post(body, tenant=tenant, **kwargs)
        answers.append((status, headers))
        return status, headers

    bodies = [ocr_body(text_image(f"MIXED {tenant} {i}"), **FAST) for i in range(4)]
    for body in bodies:          # 4 misses
        post(body)
    for body in bodies * 3:      # 12 hits
        post(body)
    # Identical requests at once: one miss, the others coalesced on it (or hits when they come late).
    together = ocr_body(text_image(f"TOGETHER {tenant}"), **FAST)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for status, headers, _ in pool.map(lambda _: gw.post(together, tenant=tenant), range(8)):
            answers.append((status, headers))
    for bad in (b'{"file": 12}', b"{not json", b'{"fileType": 1}'):   # errors, billed nothing
        post(bad)
    priced = ocr_body(text_image(f"PRICED {tenant}"), **FAST)
    for _ in range(3):           # a miss, then priced hits
        post(priced, route="/ocr-priced")
    keyed = ocr_body(text_image(f"KEYED {tenant}"), **FAST)
    for _ in range(3):           # an idempotent miss, then its replays billed 0
        post(keyed, headers={"Idempotency-Key": f"mixed-{tenant}"})
    return answers


def expected_totals(answers: list[tuple[int, dict]]) -> dict:
    totals = {"requests": 0, "hits": 0, "coalesced": 0, "misses": 0, "errors": 0, "billedTokens": 0, "savedTokens": 0}
    for status, headers in answers:
        totals["requests"] += 1
        billed = int(headers.get("x-deja-billed-tokens", "0"))
        totals["billedTokens"] += billed
        if status >= 400:
            totals["errors"] += 1
            continue
        outcome = headers["x-deja-cache"]
        totals[{"hit": "hits", "coalesced": "coalesced", "miss": "misses"}[outcome]] += 1
        if outcome in CACHED:
            totals["savedTokens"] += int(headers["x-deja-tokens"]) - billed
    return totals


def ledger_rows(gw: Gateway, tenant: str) -> tuple[list[tuple], int]:
    """The tenant's records (outcome, billed) and the requests in its hourly counts, read-only."""
    connection = sqlite3.connect(f"file:{gw.storage / 'data' / 'ledger.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        records = connection.execute("SELECT outcome, billed FROM usage WHERE tenant = ?", (tenant,)).fetchall()
        (counted,) = connection.execute("SELECT coalesce(sum(requests), 0) FROM usage_hourly WHERE tenant = ?", (tenant,)).fetchone()
    finally:
        connection.close()
    return records, counted


@pytest.mark.parametrize("records", ["billed", "all"])
def test_usage_equals_the_billing_headers_after_a_mixed_run(worker, tmp_path, records):
    gw = Gateway(worker.url, tmp_path, task={"usage": {"records": records}}, extra_tasks=[priced_task(worker.url, records)])
    gw.start()
    try:
        answers = mixed_run(gw, "mix")
        expected = expected_totals(answers)
        outcomes = [headers.get("x-deja-cache") for status, headers in answers if status < 400]
        assert outcomes.count("coalesced") + outcomes.count("hit") > 12, outcomes
        assert any(h.get("x-deja-idempotent-replay") == "true" for _, h in answers)
        assert expected["billedTokens"] > 0 and expected["errors"] == 3

        status, _, body = http("GET", gw.url + "/v1/usage?tenant=mix", headers=ADMIN)
        assert status == 200, body
        totals = json.loads(body)["totals"]
        assert {name: totals[name] for name in expected} == expected, (totals, expected)

        # The CLI's report and the export read the same ledger and add up to the same.
        cli = json.loads(gw.cli("usage", "--tenant", "mix", "--json"))["totals"]
        assert {name: cli[name] for name in expected} == expected
        status, _, export = http("GET", gw.url + "/v1/usage?tenant=mix&format=csv", headers=ADMIN)
        lines = list(csv.DictReader(io.StringIO(export.decode())))
        assert sum(int(line["requests"]) for line in lines) == expected["requests"]
        assert sum(int(line["billed_tokens"]) for line in lines) == expected["billedTokens"]
        assert sum(int(line["saved_tokens"]) for line in lines) == expected["savedTokens"]

        # What the ledger holds: a record per billed answer and counts for the rest (billed), or a record
        # per request (all) — never both for one request.
        assert gw.stop() == 0
        rows, counted = ledger_rows(gw, "mix")
        billed_answers = sum(1 for _, h in answers if int(h.get("x-deja-billed-tokens", "0")) > 0)
        if records == "billed":
            assert len(rows) == billed_answers and all(billed > 0 for _, billed in rows), rows
            assert counted == expected["requests"] - billed_answers
            assert len(lines) < expected["requests"]
        else:
            assert len(rows) == expected["requests"] and counted == 0
            assert len(lines) == expected["requests"] and all(line["requests"] == "1" for line in lines)
    finally:
        gw.stop()
