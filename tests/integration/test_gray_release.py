"""A gray release through the real `deja` binary, in front of two real PP-OCRv4 workers.

The candidate "model version" is a second worker process started with a different recognition score
threshold (DEJA_WORKER_TEXT_REC_SCORE_THRESH): the same models, but lines read with a score under the
threshold are dropped, so some answers really differ. Checked: each document keeps its version (by
content), the answer served is always the chosen version's own (no mixing), and in shadow mode every
stable miss is also compared with the candidate, unbilled and never served, which `deja gray report`
shows with the disagreements by key.
"""
import base64
import json
import re
import time

import pytest

from conftest import Gateway, http, running_worker, text_image

CANDIDATE_THRESHOLD = "0.97"
# Rendered by conftest.text_image: PP-OCRv4 reads some of these with scores under 0.97, some over.
LABELS = [f"gray doc {n}" for n in range(10)] + ["il1|"]


@pytest.fixture(scope="module")
def candidate_worker():
    """A second worker, the candidate: the same models with a recognition score threshold of 0.97."""
    with running_worker("deja-worker-candidate", {"DEJA_WORKER_TEXT_REC_SCORE_THRESH": CANDIDATE_THRESHOLD}) as started:
        yield started.url


def body(label: str) -> bytes:
    return json.dumps({"file": base64.b64encode(text_image(label)).decode(), "fileType": 1}).encode()


def texts(answer: bytes) -> list[list[str]]:
    return [page["prunedResult"]["rec_texts"] for page in json.loads(answer)["result"]["ocrResults"]]


def direct_texts(worker_url: str, label: str) -> list[list[str]]:
    """What a worker answers itself for the request the gateway forwards (the task's defaults spelled out)."""
    forwarded = json.dumps({"file": base64.b64encode(text_image(label)).decode(), "fileType": 1,
                            "useTextlineOrientation": False, "visualize": False}).encode()
    status, _, answer = http("POST", worker_url.rstrip("/") + "/ocr", forwarded, {"Content-Type": "application/json"})
    assert status == 200, answer
    return texts(answer)


def gray_gateway(worker, candidate_worker, tmp_path, fraction: float, shadow: float) -> Gateway:
    # Room for every shadow call of the test at once: none is dropped however slow the candidate is.
    return Gateway(worker.url, tmp_path, task={
        "model": {"name": "PP-OCRv4", "version": "stable-1"},
        "candidate": {"modelVersion": "candidate-1", "upstream": f"{candidate_worker}/ocr",
                      "fraction": fraction, "shadow": shadow, "maxShadowCalls": len(LABELS)},
    })


def shadow_metrics(gw: Gateway) -> dict[str, float]:
    status, _, body = http("GET", gw.url + "/metrics", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200
    found = re.findall(r'^deja_gray_shadow_total\{(?=[^}]*task="ocr")[^}]*result="(\w+)"[^}]*\} (\S+)$', body.decode(), re.MULTILINE)
    return {result: float(value) for result, value in found}


@pytest.fixture(scope="module")
def expected(worker, candidate_worker):
    """Per label, the texts each version's worker reads."""
    return {label: {"stable-1": direct_texts(worker.url, label), "candidate-1": direct_texts(candidate_worker, label)}
            for label in LABELS}


def test_the_versions_really_differ_on_some_documents(expected):
    differing = [label for label in LABELS if expected[label]["stable-1"] != expected[label]["candidate-1"]]
    assert differing and len(differing) < len(LABELS), expected


def test_each_document_keeps_its_version_and_answers_never_mix(worker, candidate_worker, tmp_path, expected):
    gw = gray_gateway(worker, candidate_worker, tmp_path, fraction=0.5, shadow=0)
    gw.start()
    try:
        versions = {}
        for label in LABELS:
            status, headers, answer = gw.post(body(label))
            assert status == 200, answer
            assert headers["x-deja-cache"] == "miss"
            version = headers["x-deja-model-version"]
            assert version in ("stable-1", "candidate-1")
            assert texts(answer) == expected[label][version], (label, version)
            versions[label] = (version, headers["x-deja-key"])
        assert set(v for v, _ in versions.values()) == {"stable-1", "candidate-1"}, versions

        # Repeats, from another tenant too (its own cache scope): the same version, the same answer.
        for tenant in ("acme", "globex"):
            for label in LABELS:
                status, headers, answer = gw.post(body(label), tenant=tenant)
                assert status == 200
                assert headers["x-deja-model-version"] == versions[label][0], (tenant, label)
                assert texts(answer) == expected[label][versions[label][0]]
                if tenant == "acme":
                    assert headers["x-deja-cache"] == "hit"
                    assert headers["x-deja-key"] == versions[label][1]

        # Restarted: the choice is the content's, not the process's memory.
        gw.stop()
        gw.start()
        for label in LABELS:
            status, headers, _ = gw.post(body(label))
            assert headers["x-deja-model-version"] == versions[label][0]
            assert headers["x-deja-cache"] == "hit"
    finally:
        gw.stop()


def test_shadow_comparisons_are_reported_and_never_billed_or_served(worker, candidate_worker, tmp_path, expected):
    gw = gray_gateway(worker, candidate_worker, tmp_path, fraction=0, shadow=1)
    gw.start()
    try:
        keys = {}
        for label in LABELS:
            status, headers, answer = gw.post(body(label))
            assert status == 200, answer
            assert headers["x-deja-model-version"] == "stable-1"
            assert texts(answer) == expected[label]["stable-1"]
            assert headers["x-deja-billed-tokens"] == "10"
            keys[label] = headers["x-deja-key"]

        report = None
        for _ in range(600):  # the comparisons run after the answers: wait for all of them
            report = json.loads(gw.cli("gray", "report", "--json", "--examples", "20"))
            if report and report[0]["compared"] == len(LABELS):
                break
            time.sleep(0.2)
        assert len(report) == 1, report
        row = report[0]
        disagreeing = {label for label in LABELS if expected[label]["stable-1"] != expected[label]["candidate-1"]}
        assert (row["task"], row["stableVersion"], row["candidateVersion"]) == ("ocr", "stable-1", "candidate-1")
        assert row["compared"] == len(LABELS)
        assert row["agreed"] == len(LABELS) - len(disagreeing)
        assert {example["key"] for example in row["examples"]} == {keys[label] for label in disagreeing}
        assert all(example["difference"].startswith("$.pages[0].texts") for example in row["examples"])

        counted = shadow_metrics(gw)
        assert counted.get("agreed") == row["agreed"], counted
        assert counted.get("disagreed") == len(disagreeing), counted
        assert counted.get("dropped", 0) == 0 and counted.get("failed", 0) == 0, counted

        table = gw.cli("gray", "report", "--since", "1h", "--examples", "20")
        print(table)
        assert "stable-1" in table and "candidate-1" in table and "Disagreements" in table
        assert all(keys[label][:16] in table for label in disagreeing)

        # Billed: the stable misses alone; the shadow calls are nowhere in the usage.
        usage = json.loads(gw.cli("usage", "--json"))
        assert usage["totals"]["requests"] == len(LABELS)
        assert usage["totals"]["billedTokens"] == 10 * len(LABELS)
    finally:
        gw.stop()
