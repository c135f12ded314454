"""Two stateless gateway instances on one shared Redis (standalone and cluster) and one PostgreSQL ledger."""
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Gateway, http, ocr_body

REDIS = os.environ.get("DEJA_REDIS_URL")
CLUSTER = os.environ.get("DEJA_REDIS_CLUSTER")
TLS = os.environ.get("DEJA_REDIS_TLS_URL")  # rediss://…?ca=<private CA>
POSTGRES = os.environ.get("DEJA_POSTGRES_URL")

BACKENDS = [pytest.param(REDIS, id="redis")] if REDIS else []
BACKENDS += [pytest.param(f"redis-cluster://{CLUSTER}", id="redis-cluster")] if CLUSTER else []
BACKENDS += [pytest.param(TLS, id="redis-tls")] if TLS else []


def canonical_forms(gw: Gateway) -> int:
    """How many canonical forms the instance built (`deja_canonical_forms_total`)."""
    status, _, body = http("GET", gw.url + "/metrics", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200
    values = [line.split()[-1] for line in body.decode().splitlines() if line.startswith("deja_canonical_forms_total{")]
    return int(float(values[0])) if values else 0


def pair(worker, tmp_path, cache: str, version: str):
    """Two instances sharing the cache and the ledger; the second reuses the first's key."""
    storage = {"cache": cache}
    if POSTGRES:
        storage["ledger"] = POSTGRES
    task = {"model": {"name": "PP-OCRv4", "version": version}}
    a = Gateway(worker.url, tmp_path / "a", task=task, stores=storage)
    b = Gateway(worker.url, tmp_path / "b", task=task, stores=storage)
    tenant = f"shared-{version}"
    key = a.key(tenant)
    b.keys[tenant] = key
    a.start()
    b.start()
    return a, b, tenant


@pytest.mark.skipif(not BACKENDS, reason="needs DEJA_REDIS_URL / DEJA_REDIS_CLUSTER (scripts/test.sh starts them)")
@pytest.mark.parametrize("cache", BACKENDS)
def test_a_miss_on_one_instance_is_a_hit_on_the_other(worker, invoices, tmp_path, cache):
    version = f"shared-{int(time.time() * 1000)}"  # a fresh model version: a fresh key space in Redis
    a, b, tenant = pair(worker, tmp_path, cache, version)
    try:
        body = ocr_body(invoices("20261129-4242"))
        status, headers, first = a.post(body, tenant=tenant)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        calls = worker.ocr_requests()
        status, headers, second = b.post(body, tenant=tenant)
        assert status == 200 and headers["x-deja-cache"] == "hit", headers
        assert headers["x-deja-billed-tokens"] == "0"
        assert worker.ocr_requests() == calls
        first, second = json.loads(first), json.loads(second)
        assert first["result"] == second["result"]
        # The second instance never decoded the image: the first one shared what this body resolves to.
        assert canonical_forms(a) == 1 and canonical_forms(b) == 0

        # 50 concurrent identical requests spread over both instances: one model call.
        fresh = ocr_body(invoices("20261129-4343"))
        before = worker.ocr_requests()
        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(lambda i: (a if i % 2 else b).post(fresh, tenant=tenant), range(50)))
        assert all(status == 200 for status, _, _ in results), [r[0] for r in results]
        outcomes = [h["x-deja-cache"] for _, h, _ in results]
        assert outcomes.count("miss") == 1, outcomes
        assert worker.ocr_requests() == before + 1
        assert sum(int(h["x-deja-billed-tokens"]) for _, h, _ in results) == 10

        # Both instances read one ledger when it is PostgreSQL.
        if POSTGRES:
            for gw in (a, b):
                status, _, report = http("GET", gw.url + f"/v1/usage?tenant={tenant}",
                                         headers={"Authorization": "Bearer test-admin-token"})
                totals = json.loads(report)["totals"]
                assert totals["misses"] == 2 and totals["billedTokens"] == 20, totals
        status, _, ready = http("GET", a.url + "/readyz")
        assert json.loads(ready)["checks"]["cache"] == "ok"
        metrics = http("GET", a.url + "/metrics")[2].decode()
        assert "deja_cache_redis_up 1" in metrics
    finally:
        a.stop()
        b.stop()


@pytest.mark.skipif(not (BACKENDS and POSTGRES), reason="needs Redis and DEJA_POSTGRES_URL (scripts/test.sh starts them)")
@pytest.mark.parametrize("cache", BACKENDS)
def test_a_revocation_on_one_instance_takes_effect_on_the_other_at_once(worker, invoices, tmp_path, cache):
    import re

    version = f"revoke-{int(time.time() * 1000)}"
    a, b, tenant = pair(worker, tmp_path, cache, version)
    try:
        body = ocr_body(invoices("20261129-7777"))
        assert a.post(body, tenant=tenant)[0] == 200
        # Both instances remember the key now (b answers the hit on its event loop, no ledger read).
        for _ in range(2):
            status, headers, _ = b.post(body, tenant=tenant)
            assert status == 200 and headers["x-deja-cache"] == "hit"
        key_id = re.search(r"key_[0-9a-f]{12}", a.cli("keys", "list", "--tenant", tenant)).group(0)
        status, _, _ = http("POST", f"{a.url}/admin/keys/{key_id}/revoke", b"", {"Authorization": "Bearer test-admin-token"})
        assert status == 200
        deadline = time.monotonic() + 1.0  # the announcement crosses Redis pub/sub; well under the 5 s memory
        while b.post(body, tenant=tenant)[0] != 401:
            assert time.monotonic() < deadline, "the other instance still accepts the revoked key"
            time.sleep(0.05)
        assert a.post(body, tenant=tenant)[0] == 401

        # `deja keys revoke` from the command line announces through Redis too.
        other = f"{tenant}-cli"
        b.keys[other] = a.key(other)
        for _ in range(2):
            assert b.post(body, tenant=other)[0] == 200
        cli_id = re.search(r"key_[0-9a-f]{12}", a.cli("keys", "list", "--tenant", other)).group(0)
        a.cli("keys", "revoke", cli_id)
        deadline = time.monotonic() + 1.0
        while b.post(body, tenant=other)[0] != 401:
            assert time.monotonic() < deadline, "a gateway still accepts a key revoked from the command line"
            time.sleep(0.05)
    finally:
        a.stop()
        b.stop()


@pytest.mark.skipif(not REDIS, reason="needs DEJA_REDIS_URL (scripts/test.sh starts it)")
def test_redis_dying_under_load_fails_open_and_caching_resumes(worker, invoices, tmp_path):
    port = int(REDIS.rsplit(":", 1)[1].split("/")[0])
    version = f"failopen-{int(time.time() * 1000)}"
    gw = Gateway(worker.url, tmp_path / "g", task={"model": {"name": "PP-OCRv4", "version": version}},
                 stores={"cache": REDIS})
    gw.start()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        bodies = [ocr_body(invoices(f"20261129-71{n}")) for n in range(3)]
        for body in bodies:
            assert gw.post(body)[1]["x-deja-cache"] == "miss"

        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True, timeout=30)
        statuses, outcomes = [], []
        fresh = ocr_body(invoices("20261129-7199"))
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda i: gw.post(bodies[i % 3] if i % 8 else fresh), range(96)))
        statuses = [s for s, _, _ in results]
        outcomes = [h.get("x-deja-cache") for _, h, _ in results]
        assert statuses == [200] * 96, "a dead Redis must not fail client requests"
        assert set(outcomes) <= {"hit", "miss", "bypass", "coalesced"}, outcomes
        status, _, ready = http("GET", gw.url + "/readyz")
        assert status == 200 and json.loads(ready)["checks"]["cache"] in ("unavailable", "circuit open")

        subprocess.run(["bash", os.path.join(repo, "scripts", "redis.sh"), "start"], capture_output=True, timeout=120, check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if json.loads(http("GET", gw.url + "/readyz")[2])["checks"]["cache"] == "ok":
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the gateway did not reconnect to Redis by itself")
        later = ocr_body(invoices("20261129-7200"))
        assert gw.post(later)[1]["x-deja-cache"] == "miss"
        keys = subprocess.run(["redis-cli", "-p", str(port), "--scan", "--pattern", "deja:e:*"],
                              capture_output=True, text=True, timeout=30).stdout.split()
        assert keys, "caching in Redis did not resume"
    finally:
        gw.stop()
        subprocess.run(["bash", os.path.join(repo, "scripts", "redis.sh"), "start"], capture_output=True, timeout=120)


@pytest.mark.skipif(not REDIS, reason="needs DEJA_REDIS_URL (scripts/test.sh starts it)")
def test_a_hung_redis_opens_the_breaker_and_requests_stop_waiting_on_it(worker, invoices, tmp_path):
    """Redis stops answering (SIGSTOP: connections stay open, replies never come). The first calls wait
    for the command timeout; then the breaker opens and every request goes straight to the model."""
    port = int(REDIS.rsplit(":", 1)[1].split("/")[0])
    info = subprocess.run(["redis-cli", "-p", str(port), "info", "server"], capture_output=True, text=True, timeout=30).stdout
    pid = int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("process_id:")))
    version = f"hung-{int(time.time() * 1000)}"
    # No memory L1: every lookup is a Redis call.
    gw = Gateway(worker.url, tmp_path / "g", task={"model": {"name": "PP-OCRv4", "version": version}},
                 stores={"cache": REDIS, "memoryBytes": 0})
    gw.start()
    stopped = False
    try:
        body = ocr_body(invoices("20261129-7300"))
        assert gw.post(body)[1]["x-deja-cache"] == "miss"
        assert gw.post(body)[1]["x-deja-cache"] == "hit"  # from Redis
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: gw.post(body), range(24)))
        assert [s for s, _, _ in results] == [200] * 24, "a hung Redis must not fail client requests"
        assert {h["x-deja-cache"] for _, h, _ in results} <= {"bypass", "miss", "coalesced"}
        status, _, ready = http("GET", gw.url + "/readyz")
        assert status == 200 and json.loads(ready)["checks"]["cache"] == "circuit open", ready
        _, _, metrics = http("GET", gw.url + "/metrics", headers={"Authorization": "Bearer test-admin-token"})
        assert "deja_cache_redis_circuit_open 1" in metrics.decode()
        os.kill(pid, signal.SIGCONT)
        stopped = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the breaker probes again after its open period
            if json.loads(http("GET", gw.url + "/readyz")[2])["checks"]["cache"] == "ok":
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the breaker did not close after Redis came back")
        assert gw.post(body)[1]["x-deja-cache"] == "hit"
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        gw.stop()


CLUSTER_PORTS = [17000, 17001, 17002, 17003, 17004, 17005]


def redis_cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30).stdout.strip()


def wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(not CLUSTER, reason="needs DEJA_REDIS_CLUSTER (scripts/test.sh starts it)")
def test_killing_a_cluster_primary_the_gateways_follow_the_promoted_replica(worker, invoices, tmp_path):
    """Kept last in this file: it kills a primary, then restores the cluster's roles for whoever comes next."""
    version = f"failover-{int(time.time() * 1000)}"
    cache = f"redis-cluster://{CLUSTER}"
    a, b, tenant = pair(worker, tmp_path, cache, version)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    victim = None
    try:
        body = ocr_body(invoices("20261129-7400"))
        status, headers, _ = a.post(body, tenant=tenant)
        assert status == 200 and headers["x-deja-cache"] == "miss"
        entry = f"deja:e:{headers['x-deja-key']}"
        victim = next(p for p in CLUSTER_PORTS
                      if redis_cli(p, "role").startswith("master") and redis_cli(p, "exists", entry) == "1")
        assert redis_cli(victim, "wait", "1", "2000") == "1"  # the entry is on the replica too
        redis_cli(victim, "shutdown", "nosave")

        # Instance b has never seen this body: its only way to a hit is the entry in Redis, on the replica
        # about to be promoted. Until then every answer is still a 200 (from the model, `bypass`).
        seen = []

        def b_hits() -> bool:
            status, headers, _ = b.post(body, tenant=tenant)
            assert status == 200, "a cluster failover must not fail client requests"
            seen.append(headers["x-deja-cache"])
            return headers["x-deja-cache"] == "hit"

        wait_until(b_hits, 60, "instance b to read the entry from the promoted replica")
        assert set(seen) <= {"bypass", "miss", "hit", "coalesced"}, seen
        fresh = ocr_body(invoices("20261129-7401"))

        def stored_and_read() -> bool:
            # Right after the failover an instance's Redis breaker may still be open for a moment
            # (answers `bypass`, not stored); caching through the new topology must resume by itself.
            assert a.post(fresh, tenant=tenant)[0] == 200
            status, headers, _ = b.post(fresh, tenant=tenant)
            assert status == 200
            return headers["x-deja-cache"] == "hit"

        wait_until(stored_and_read, 20, "an answer stored by a to be read by b through the new topology")
        # Readiness reads every primary of the client's slot map, which may still name the dead node after
        # requests already follow the promoted replica (seen here: `unavailable` for up to the cluster
        # client's 30 s periodic refresh in some runs): it must come back by itself.
        wait_until(lambda: json.loads(http("GET", b.url + "/readyz")[2])["checks"]["cache"] == "ok", 45,
                   "instance b's readiness to see the cluster healthy again")
    finally:
        a.stop()
        b.stop()
        if victim is not None:
            # Restore: the old primary rejoins as a replica and takes its role back.
            directory = os.environ.get("DEJA_REDIS_DIR", "/tmp/deja-redis")
            if redis_cli(victim, "ping") != "PONG":
                subprocess.run(["redis-server", f"{directory}/cluster-{victim}/redis.conf"], capture_output=True, timeout=30)
            wait_until(lambda: "master_link_status:up" in redis_cli(victim, "info", "replication")
                       or redis_cli(victim, "role").startswith("master"), 60, "the old primary to rejoin")
            if not redis_cli(victim, "role").startswith("master"):
                redis_cli(victim, "cluster", "failover")
                wait_until(lambda: redis_cli(victim, "role").startswith("master"), 60, "the old primary to take its role back")
            wait_until(lambda: "cluster_state:ok" in redis_cli(victim, "cluster", "info"), 60, "the cluster to be ok")
