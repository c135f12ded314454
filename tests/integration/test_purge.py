"""Purge across two gateway instances sharing Redis: an answer purged on one is a miss on the other
(its memory tier told through pub/sub), with counts per layer; and the capacity report and projection."""
import json
import os
import time

import pytest

from conftest import Gateway, http, sentiment_task

REDIS = os.environ.get("DEJA_REDIS_URL")
ADMIN = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}

pytestmark = pytest.mark.skipif(not REDIS, reason="needs DEJA_REDIS_URL (scripts/test.sh starts it)")


@pytest.fixture
def pair(worker, tmp_path):
    """Two instances on one Redis, serving sentiment per tenant under a model version no other run uses."""
    version = f"purge-{int(time.time() * 1000)}"
    task = sentiment_task(worker, model={"name": "deja-sentiment", "version": version}, scope="tenant")
    gateways = [Gateway(worker.url, tmp_path / name, extra_tasks=[task], stores={"cache": REDIS}) for name in ("a", "b")]
    for gw in gateways:
        gw.start()
    try:
        yield gateways[0], gateways[1], version
    finally:
        for gw in gateways:
            gw.stop()


def ask(gw: Gateway, text: str, tenant: str) -> tuple[str, str]:
    status, headers, _ = gw.post(json.dumps({"text": text}).encode(), tenant=tenant, route="/sentiment")
    assert status == 200, status
    return headers["x-deja-cache"], headers["x-deja-key"]


def purge(gw: Gateway, **filters) -> tuple[int, dict]:
    status, _, body = http("POST", gw.url + "/admin/purge", json.dumps(filters).encode(), ADMIN)
    return status, json.loads(body)


def eventually_miss(gw: Gateway, text: str, tenant: str) -> None:
    """The other instance applies the announced purge within moments; poll rather than sleep a fixed time."""
    deadline = time.time() + 5
    while True:
        outcome, _ = ask(gw, text, tenant)
        if outcome == "miss" or time.time() > deadline:
            assert outcome == "miss", "the other instance still serves the purged answer"
            return
        time.sleep(0.1)


def test_a_purge_on_one_instance_is_a_miss_on_the_other(pair):
    a, b, version = pair
    assert ask(a, "purge me", "acme")[0] == "miss"
    outcome, key = ask(b, "purge me", "acme")
    assert outcome == "hit"  # from Redis, now in b's memory too
    assert ask(b, "purge me", "acme")[0] == "hit"

    # By key, on a, through the CLI: one entry in a's memory and in Redis; b is told.
    out = a.cli("purge", "--key", key)
    assert "memory (this instance)  1" in out and "redis                   1" in out, out
    assert "other instances: notified" in out, out
    eventually_miss(b, "purge me", "acme")  # b's memory copy is gone as well


def test_purges_by_tenant_and_by_model_version_leave_other_entries(pair):
    a, b, version = pair
    for text in ("one", "two"):
        assert ask(a, text, "acme")[0] == "miss"
    assert ask(a, "one", "globex")[0] == "miss"
    for text, tenant in (("one", "acme"), ("two", "acme"), ("one", "globex")):
        assert ask(b, text, tenant)[0] == "hit"  # and so in b's memory

    status, report = purge(a, tenant="globex", modelVersion=version)
    assert status == 200 and report == {"memory": 1, "redis": 1, "notified": True}, report
    eventually_miss(b, "one", "globex")
    assert ask(b, "one", "acme")[0] == "hit" and ask(b, "two", "acme")[0] == "hit"

    # b's miss stored "one"/globex again: three entries of this version in Redis.
    status, report = purge(b, task="sentiment", modelVersion=version)
    assert status == 200 and report["redis"] == 3 and report["notified"], report
    # A miss stores the answer again, so each instance is asked about a different text.
    eventually_miss(a, "two", "acme")
    eventually_miss(b, "one", "acme")

    # Filters are checked and named.
    for filters, field in (({"task": "nope"}, "task"), ({"key": "xyz"}, "key"), ({"olderThan": "soon"}, "olderThan")):
        status, body = purge(a, **filters)
        assert status == 400 and f"'{field}'" in body["error"]["message"], body
    status, body = purge(a)
    assert status == 400 and '"all": true' in body["error"]["message"]


def test_capacity_reports_per_task_and_projects(pair):
    a, _, version = pair
    for text in ("alpha", "beta", "gamma"):
        ask(a, text, "acme")
    status, _, body = http("GET", a.url + "/admin/capacity", headers=ADMIN)
    assert status == 200
    report = json.loads(body)
    row = next(r for r in report["tasks"] if r["task"] == "sentiment")
    assert report["store"] == "redis"
    assert row["memory"]["entries"] >= 3 and row["store"]["entries"] >= 3 and row["store"]["sampled"] >= 3
    assert row["requestsLastHour"] >= 3
    assert report["redis"]["perKeyOverheadBytes"] > 0 and report["memory"]["budgetBytes"] == 64 << 20
    out = a.cli("capacity", "--requests", "1000000", "--repeat-ratio", "0.7", "--task", "sentiment")
    assert "distinct entries: 300000" in out and "verdict: L1:" in out and "verdict: Redis:" in out, out
    purge(a, task="sentiment", modelVersion=version)
