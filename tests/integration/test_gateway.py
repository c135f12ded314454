"""The whole request path against the real PP-OCRv4 worker and the real `deja` binary."""
import base64
import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import Gateway, http, ocr_body, text_image

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def texts(body: bytes) -> list[str]:
    answer = json.loads(body)
    return answer["result"]["ocrResults"][0]["prunedResult"]["rec_texts"]


def without_log_id(body: bytes) -> dict:
    answer = json.loads(body)
    answer.pop("logId")
    return answer


def test_miss_then_hit_is_billed_once_and_never_reaches_the_model_again(gateway, worker, invoices):
    image = invoices("20261129-0042")
    before = worker.ocr_requests()

    status, headers, first = gateway.post(ocr_body(image))
    assert status == 200, first
    assert headers["x-deja-cache"] == "miss"
    assert HEX64.match(headers["x-deja-key"])
    assert int(headers["x-deja-billed-tokens"]) == int(headers["x-deja-tokens"]) == 10  # one page x 10
    assert headers["x-deja-model-version"] == "test-1"
    assert worker.ocr_requests() == before + 1
    recognised = " ".join(texts(first))
    assert "0042" in recognised, recognised
    assert re.search(r"[\u4e00-\u9fff]", recognised), f"no Chinese text recognised: {recognised}"

    status, headers2, second = gateway.post(ocr_body(image))
    assert status == 200
    assert headers2["x-deja-cache"] == "hit"
    assert headers2["x-deja-billed-tokens"] == "0"
    assert headers2["x-deja-tokens"] == "10"
    assert headers2["x-deja-key"] == headers["x-deja-key"]
    assert int(headers2["age"]) >= 0
    assert worker.ocr_requests() == before + 1, "a cached answer reached the model"
    assert without_log_id(second) == without_log_id(first)
    assert json.loads(second)["logId"] != json.loads(first)["logId"], "logId must be re-stamped per request"


def test_spellings_of_the_same_request_share_one_key(gateway, worker, invoices):
    image = invoices("20261129-0100")
    status, headers, _ = gateway.post(ocr_body(image))
    assert status == 200 and headers["x-deja-cache"] == "miss"
    key = headers["x-deja-key"]
    calls = worker.ocr_requests()

    b64 = base64.b64encode(image).decode()
    wrapped = "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    variants = [
        json.dumps({"fileType": 1, "file": b64}),                                  # key order
        json.dumps({"file": f"data:image/png;base64,{b64}", "fileType": 1}),       # data URI
        json.dumps({"file": wrapped, "fileType": 1}),                              # MIME line breaks
        json.dumps({"file": b64.rstrip("="), "fileType": 1.0}),                    # no padding, 1.0
        json.dumps({"file": b64, "fileType": 1, "requestId": "r-123", "logId": "x"}),  # volatile fields
        json.dumps({"file": b64, "fileType": 1, "visualize": False, "useTextlineOrientation": None}),  # defaults, null
        json.dumps({"file": b64}),                                                 # fileType default omitted
        '{ "\\u0066ile" : "%s" , "fileType" : 10E-1 }' % b64,                      # escapes, spacing, exponent
    ]
    for variant in variants:
        status, headers, body = gateway.post(variant.encode())
        assert status == 200, body
        assert headers["x-deja-key"] == key, f"variant did not share the key: {variant[:80]}"
        assert headers["x-deja-cache"] == "hit"
        assert headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == calls


def test_requests_the_model_sees_differently_get_different_keys(gateway, worker, invoices):
    base = gateway.post(ocr_body(invoices("20261129-0200")))
    assert base[0] == 200
    other_image = gateway.post(ocr_body(invoices("20261129-0201")))
    other_option = gateway.post(ocr_body(invoices("20261129-0200"), useTextlineOrientation=True))
    keys = {base[1]["x-deja-key"], other_image[1]["x-deja-key"], other_option[1]["x-deja-key"]}
    assert len(keys) == 3
    assert other_image[1]["x-deja-cache"] == "miss"
    assert other_option[1]["x-deja-cache"] == "miss"
    assert "0201" in " ".join(texts(other_image[2]))


def test_fifty_concurrent_identical_misses_make_one_model_call(gateway, worker, invoices):
    body = ocr_body(invoices("20261129-5050"))
    before = worker.ocr_requests()
    usage_before = usage(gateway, "acme")
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: gateway.post(body), range(50)))
    assert all(status == 200 for status, _, _ in results), [r[0] for r in results]
    outcomes = [headers["x-deja-cache"] for _, headers, _ in results]
    assert outcomes.count("miss") == 1, outcomes
    assert set(outcomes) <= {"miss", "coalesced", "hit"}
    assert worker.ocr_requests() == before + 1
    billed = sum(int(headers["x-deja-billed-tokens"]) for _, headers, _ in results)
    assert billed == 10
    usage_after = usage(gateway, "acme")
    assert usage_after["totals"]["misses"] - usage_before["totals"]["misses"] == 1
    assert usage_after["totals"]["billedTokens"] - usage_before["totals"]["billedTokens"] == 10
    assert usage_after["totals"]["requests"] - usage_before["totals"]["requests"] == 50


def test_cache_survives_a_gateway_restart(worker, invoices, tmp_path):
    gw = Gateway(worker.url, tmp_path)
    gw.start()
    try:
        body = ocr_body(invoices("20261129-7777"))
        status, headers, first = gw.post(body)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        assert gw.stop() == 0, "SIGTERM must end the gateway with exit code 0"
        calls = worker.ocr_requests()
        gw.start()
        status, headers, second = gw.post(body)
        assert status == 200
        assert headers["x-deja-cache"] == "hit"
        assert headers["x-deja-billed-tokens"] == "0"
        assert worker.ocr_requests() == calls
        assert without_log_id(second) == without_log_id(first)
        report = usage(gw, "acme")
        assert report["totals"]["misses"] == 1 and report["totals"]["hits"] == 1
    finally:
        gw.stop()


def test_usage_report_equals_the_billed_headers(gateway, invoices):
    seen = 0
    requests = 0
    for number in ["9001", "9002", "9001", "9003", "9001", "9002"]:
        status, headers, _ = gateway.post(ocr_body(invoices(number)), tenant="audit")
        assert status == 200
        seen += int(headers["x-deja-billed-tokens"])
        requests += 1
    status, headers, _ = gateway.post(b'{"file": 12}', tenant="audit")  # rejected: not billed
    assert status == 422  # PaddleX: file must be a string
    seen += int(headers["x-deja-billed-tokens"])
    requests += 1

    report = usage(gateway, "audit")
    assert report["totals"]["billedTokens"] == seen == 30
    assert report["totals"]["requests"] == requests
    assert report["totals"]["hits"] == 3 and report["totals"]["misses"] == 3 and report["totals"]["errors"] == 1
    assert report["totals"]["savedTokens"] == 30
    assert report["rows"][0]["task"] == "ocr"

    # The CLI reads the same ledger.
    cli = json.loads(gateway.cli("usage", "--tenant", "audit", "--json"))
    assert cli["totals"]["billedTokens"] == seen
    table = gateway.cli("usage", "--tenant", "audit")
    assert "TOTAL" in table and "50.0%" in table

    # Grouped by key: one row for the tenant's one key, the same totals; the table shows a KEY column.
    by_key = json.loads(gateway.cli("usage", "--tenant", "audit", "--group-by", "key", "--json"))
    assert len(by_key["rows"]) == 1 and by_key["rows"][0]["keyID"].startswith("key_")
    assert by_key["totals"] == cli["totals"]
    assert gateway.cli("usage", "--tenant", "audit", "--group-by", "key,task").splitlines()[0].split()[:2] == ["KEY", "TASK"]
    status, _, body = http("GET", gateway.url + "/v1/usage?tenant=audit&groupBy=day,key",
                           headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200 and json.loads(body)["totals"] == report["totals"]
    assert json.loads(body)["rows"][0].get("tenant") is None  # not grouped by tenant
    status, _, body = http("GET", gateway.url + "/v1/usage?groupBy=week", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 400 and b"groupBy" in body

    # For an invoice: one CSV line per billed answer and per hour of unbilled requests (its last column
    # counts them), adding up to the report.
    for export in (gateway.cli("usage", "--tenant", "audit", "--csv"),
                   http("GET", gateway.url + "/v1/usage?tenant=audit&format=csv",
                        headers={"Authorization": "Bearer test-admin-token"})[2].decode()):
        lines = export.strip().splitlines()
        assert lines[0].startswith("time,tenant,key_id,task,outcome,status,metered_tokens,billed_tokens,saved_tokens")
        assert lines[0].endswith(",requests")
        records = [line.split(",") for line in lines[1:]]
        assert sum(int(r[11]) for r in records) == requests
        assert sum(int(r[7]) for r in records) == seen
        assert sum(int(r[8]) for r in records) == report["totals"]["savedTokens"]
        # The 3 misses one line each; the 3 hits of the same hour and the error one count each (unless
        # the run crossed an hour: then a count per hour).
        by_outcome = {}
        for r in records:
            by_outcome.setdefault(r[4], []).append(int(r[11]))
        assert by_outcome["miss"] == [1, 1, 1] and sum(by_outcome["hit"]) == 3 and sum(by_outcome["error"]) == 1
        assert len(by_outcome["hit"]) <= 2 and len(by_outcome["error"]) == 1


def test_cache_control_no_cache_and_no_store(gateway, worker, invoices):
    body = ocr_body(invoices("20261129-3000"))
    assert gateway.post(body)[1]["x-deja-cache"] == "miss"
    calls = worker.ocr_requests()

    status, headers, _ = gateway.post(body, headers={"Cache-Control": "no-cache"})
    assert status == 200 and headers["x-deja-cache"] == "bypass"
    assert headers["x-deja-billed-tokens"] == "10"
    assert worker.ocr_requests() == calls + 1

    fresh = ocr_body(invoices("20261129-3001"))
    status, headers, _ = gateway.post(fresh, headers={"Cache-Control": "no-store"})
    assert status == 200 and headers["x-deja-cache"] == "bypass"
    status, headers, _ = gateway.post(fresh)
    assert headers["x-deja-cache"] == "miss", "a no-store answer must not have been stored"

    status, headers, _ = gateway.post(body, headers={"Cache-Control": "max-age=3600"})
    assert headers["x-deja-cache"] == "hit"


def test_bad_input_is_rejected_clearly_never_billed_and_never_cached(gateway, worker):
    before = usage(gateway, "acme")["totals"]["billedTokens"]
    # Where PaddleX refuses the body, the answer is PaddleX's (422, its validation list or "Invalid input
    # file"); Deja's own words, naming the field, are in x-deja-error. Duplicate members are Deja's own 400.
    cases = [
        (b"{not json", 422, "JSON"),
        (b'{"fileType": 1}', 422, "file"),
        (b'{"file": 42, "fileType": 1}', 422, "file"),
        (b'{"file": "@@@ not base64 @@@", "fileType": 1}', 422, "base64"),
        (b'{"file": "aGVsbG8=", "file": "aGVsbG8=", "fileType": 1}', 400, "file"),
        (b"[1, 2, 3]", 422, "object"),
    ]
    for body, expected, word in cases:
        status, headers, answer = gateway.post(body)
        assert status == expected, (body, status, answer)
        envelope = json.loads(answer)
        assert envelope["errorCode"] == expected
        said = envelope["errorMsg"] + " " + headers.get("x-deja-error", "")
        assert word.lower() in said.lower(), (body, envelope, headers)
        assert headers["x-deja-billed-tokens"] == "0"

    # Not an image: the model is the one that must judge it; its rejection passes through, unbilled,
    # and is remembered briefly (negative cache) so a repeat never reaches the model again.
    calls = worker.ocr_requests()
    junk = json.dumps({"file": base64.b64encode(b"this is not an image").decode(), "fileType": 1}).encode()
    status, headers, answer = gateway.post(junk)
    assert status == 422, answer
    assert json.loads(answer)["errorCode"] == 422
    assert headers["x-deja-billed-tokens"] == "0"
    status, headers, again = gateway.post(junk)
    assert status == 422 and headers["x-deja-cache"] == "negative"
    assert headers["x-deja-billed-tokens"] == "0"
    assert json.loads(again)["errorMsg"] == json.loads(answer)["errorMsg"]
    assert json.loads(again)["logId"] != json.loads(answer)["logId"]
    assert worker.ocr_requests() == calls + 1, "the model must judge a bad image once, and never again while remembered"

    assert usage(gateway, "acme")["totals"]["billedTokens"] == before
    # Still serving.
    assert http("GET", gateway.url + "/healthz")[0] == 200


def test_keys_and_tenant_isolation(gateway, invoices):
    status, _, body = http("POST", gateway.url + "/ocr", b"{}", {})
    assert status == 401 and "Authorization" in json.loads(body)["errorMsg"]
    status, _, body = http("POST", gateway.url + "/ocr", b"{}", {"Authorization": "Bearer dk_unknown"})
    assert status == 401

    gateway.key("other")
    status, _, body = http("GET", gateway.url + "/v1/usage?tenant=other", headers={"Authorization": f"Bearer {gateway.key('acme')}"})
    assert status == 403 and json.loads(body)["error"]["code"] == "forbidden"
    status, _, _ = http("GET", gateway.url + "/v1/usage?tenant=other", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200

    # Revocation through the CLI takes effect within the key cache's few seconds.
    victim = gateway.key("victim")
    assert gateway.post(ocr_body(invoices("20261129-0042")), tenant="victim")[0] == 200
    key_id = next(line.split()[0] for line in gateway.cli("keys", "list", "--tenant", "victim").splitlines()[1:])
    gateway.cli("keys", "revoke", key_id)
    listed = next(line for line in gateway.cli("keys", "list", "--tenant", "victim").splitlines() if key_id in line)
    assert listed.split()[-1] != "-", f"the key is not shown as revoked: {listed}"
    assert victim not in gateway.cli("keys", "list"), "a secret must never be listed"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if gateway.post(ocr_body(invoices("20261129-0042")), tenant="victim")[0] == 401:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("a revoked key kept working")


def test_unknown_route_and_readiness(gateway):
    status, _, body = http("POST", gateway.url + "/nope", b"{}", {"Authorization": f"Bearer {gateway.key('acme')}"})
    assert status == 404
    assert "/ocr" in json.loads(body)["error"]["message"]
    status, _, body = http("GET", gateway.url + "/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["upstream.ocr"] == "ok"
    status, _, body = http("GET", gateway.url + "/metrics")
    assert status == 200 and b"deja_requests_total" in body


def test_explain_prints_the_same_key_the_gateway_uses(gateway, invoices, tmp_path):
    body = ocr_body(invoices("20261129-0042"), requestId="abc")
    status, headers, _ = gateway.post(body)
    request_file = tmp_path / "request.json"
    request_file.write_bytes(body)
    # The cache is per tenant by default: the key names the tenant the request came from.
    out = gateway.cli("explain", "--route", "/ocr", "--tenant", "acme", str(request_file))
    assert headers["x-deja-key"] in out
    assert headers["x-deja-key"] not in gateway.cli("explain", "--route", "/ocr", "--tenant", "other", str(request_file))
    assert "requestId" in out


def usage(gateway: Gateway, tenant: str) -> dict:
    status, _, body = http("GET", gateway.url + f"/v1/usage?tenant={tenant}", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200, body
    return json.loads(body)


def test_a_daily_budget_stops_misses_with_429_but_not_hits(gateway, worker, invoices):
    gateway.key("budget")
    gateway.cli("quota", "set", "--tenant", "budget", "--period", "day", "--limit", "20")
    assert "20" in gateway.cli("quota", "list", "--tenant", "budget")
    first = ocr_body(invoices("20261129-5001"))
    assert gateway.post(first, tenant="budget")[0] == 200
    assert gateway.post(ocr_body(invoices("20261129-5002")), tenant="budget")[0] == 200
    calls = worker.ocr_requests()
    status, headers, body = gateway.post(ocr_body(invoices("20261129-5003")), tenant="budget")
    assert status == 429, body
    envelope = json.loads(body)
    assert envelope["errorCode"] == 429 and "budget" in envelope["errorMsg"] and "resets" in envelope["errorMsg"]
    assert int(headers["retry-after"]) > 0
    assert headers["x-deja-billed-tokens"] == "0"
    assert worker.ocr_requests() == calls, "a request over budget must never reach the model"
    # Hits cost nothing and are allowed past the exhausted budget.
    status, headers, _ = gateway.post(first, tenant="budget")
    assert status == 200 and headers["x-deja-cache"] == "hit"
    # The refusal and the hit bill nothing, so their records are queued and written in batches (every
    # 200 ms): wait for the batch rather than read the ledger before it.
    deadline = time.monotonic() + 5
    while (totals := usage(gateway, "budget")["totals"])["errors"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert totals["billedTokens"] == 20 and totals["errors"] == 1


def test_with_hits_past_budget_off_an_exhausted_budget_refuses_hits_too(worker, invoices, tmp_path):
    gw = Gateway(worker.url, tmp_path, task={"hitsPastBudget": False, "scope": "shared"})
    gw.start()
    try:
        gw.key("strict")
        gw.cli("quota", "set", "--tenant", "strict", "--period", "day", "--limit", "20")
        first, second = ocr_body(invoices("20261129-5101")), ocr_body(invoices("20261129-5102"))
        assert gw.post(first, tenant="strict")[1]["x-deja-cache"] == "miss"
        status, headers, _ = gw.post(first, tenant="strict")  # a hit, while the budget has room
        assert status == 200 and headers["x-deja-cache"] == "hit" and headers["x-deja-billed-tokens"] == "0"
        assert gw.post(second, tenant="strict")[1]["x-deja-cache"] == "miss"  # 20 of 20 billed
        calls = worker.ocr_requests()
        for body in (first, second):
            status, headers, answer = gw.post(body, tenant="strict")
            assert status == 429 and "budget" in json.loads(answer)["errorMsg"], answer
            assert headers["x-deja-billed-tokens"] == "0"
        assert worker.ocr_requests() == calls
        # A tenant without a budget is not affected.
        assert gw.post(first, tenant="free")[1]["x-deja-cache"] == "hit"
        totals = usage(gw, "strict")["totals"]
        assert totals["billedTokens"] == 20 and totals["hits"] == 1 and totals["errors"] == 2
    finally:
        gw.stop()


def test_a_hundred_concurrent_misses_against_a_budget_for_ten_bill_exactly_ten(gateway, worker):
    gateway.key("race")
    gateway.cli("quota", "set", "--tenant", "race", "--period", "day", "--limit", "100")
    bodies = [ocr_body(text_image(f"RACE {n:03d}")) for n in range(100)]
    calls = worker.ocr_requests()
    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(lambda body: gateway.post(body, tenant="race"), bodies))
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 10 and statuses.count(429) == 90, sorted(set(statuses))
    assert sum(int(h["x-deja-billed-tokens"]) for _, h, _ in results) == 100
    assert worker.ocr_requests() == calls + 10
    assert usage(gateway, "race")["totals"]["billedTokens"] == 100


def test_a_retry_with_the_same_idempotency_key_is_never_billed_twice(gateway, worker, invoices):
    body = ocr_body(invoices("20261129-9911"))
    gateway.key("retry")
    first = gateway.post(body, tenant="retry", headers={"Idempotency-Key": "order-9911"})
    assert first[0] == 200 and first[1]["x-deja-cache"] == "miss" and first[1]["x-deja-billed-tokens"] == "10"
    calls = worker.ocr_requests()
    # The retry asks for a fresh answer (no-cache) — without the key it would be billed again.
    status, headers, again = gateway.post(body, tenant="retry", headers={"Idempotency-Key": "order-9911", "Cache-Control": "no-cache"})
    assert status == 200
    assert headers["x-deja-idempotent-replay"] == "true" and headers["x-deja-cache"] == "hit"
    assert headers["x-deja-billed-tokens"] == "0"
    assert headers["x-deja-key"] == first[1]["x-deja-key"]
    assert json.loads(again)["result"] == json.loads(first[2])["result"]
    assert worker.ocr_requests() == calls
    # Another key is another request.
    status, headers, _ = gateway.post(body, tenant="retry", headers={"Idempotency-Key": "order-9912", "Cache-Control": "no-cache"})
    assert headers["x-deja-billed-tokens"] == "10" and "x-deja-idempotent-replay" not in headers
    assert usage(gateway, "retry")["totals"]["billedTokens"] == 20
    status, _, answer = gateway.post(body, tenant="retry", headers={"Idempotency-Key": "bad key with spaces"})
    assert status == 400 and "Idempotency-Key" in json.loads(answer)["errorMsg"]
