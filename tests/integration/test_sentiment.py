"""The sentiment task through the real `deja` binary, in front of the real worker's classifier.

A customer-service question typed three ways is one question: one model call, one key, two hits billed
nothing. The gateway reads the task's `text` under its text rule (NFKC, trimmed, white space collapsed,
spaces between CJK characters dropped) and meters one token per model call.
"""
import json
import re

import pytest

from conftest import Gateway, http, sentiment_task

HEX64 = re.compile(r"^[0-9a-f]{64}$")
SPELLINGS = ["怎么退货？", "怎么退货?", " 怎么 退货 ？ "]


def text_body(text: str) -> bytes:
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def without_log_id(body: bytes) -> dict:
    answer = json.loads(body)
    answer.pop("logId")
    return answer


def billed(gateway: Gateway, tenant: str = "acme") -> int:
    status, _, body = http("GET", gateway.url + f"/v1/usage?tenant={tenant}",
                           headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200, body
    return json.loads(body)["totals"]["billedTokens"]


@pytest.fixture
def gateway(worker, tmp_path):
    """A gateway serving OCR and, beside it, the sentiment task."""
    gw = Gateway(worker.url, tmp_path, extra_tasks=[sentiment_task(worker)])
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def ask(gateway: Gateway, body: bytes):
    return gateway.post(body, route="/sentiment")


def test_one_question_spelled_three_ways_is_one_model_call(gateway, worker):
    calls = worker.sentiment_requests()
    status, headers, first = ask(gateway, text_body(SPELLINGS[0]))
    assert status == 200, first
    assert headers["x-deja-cache"] == "miss"
    assert HEX64.match(headers["x-deja-key"])
    assert headers["x-deja-billed-tokens"] == headers["x-deja-tokens"] == "1"
    assert worker.sentiment_requests() == calls + 1

    for spelling in SPELLINGS[1:]:
        status, hit_headers, again = ask(gateway, text_body(spelling))
        assert status == 200, again
        assert hit_headers["x-deja-cache"] == "hit", spelling
        assert hit_headers["x-deja-key"] == headers["x-deja-key"], spelling
        assert hit_headers["x-deja-billed-tokens"] == "0"
        assert without_log_id(again) == without_log_id(first)
        assert json.loads(again)["logId"] != json.loads(first)["logId"]
    assert worker.sentiment_requests() == calls + 1, "a spelling of a cached question reached the model"
    assert billed(gateway) == 1

    # The cached answer is the model's answer for every spelling.
    for spelling in SPELLINGS:
        status, _, direct = http("POST", worker.url + "/sentiment", text_body(spelling),
                                 {"Content-Type": "application/json"})
        assert status == 200 and json.loads(direct)["result"] == json.loads(first)["result"], spelling


def test_a_different_question_is_a_different_key(gateway, worker):
    status, headers, _ = ask(gateway, text_body("怎么退货？"))
    assert status == 200
    calls = worker.sentiment_requests()
    for other in ("怎么换货？", "怎么退款？", "怎么退货？？"):
        status, other_headers, body = ask(gateway, text_body(other))
        assert status == 200, body
        assert other_headers["x-deja-cache"] == "miss", other
        assert other_headers["x-deja-key"] != headers["x-deja-key"], other
        assert other_headers["x-deja-billed-tokens"] == "1"
    assert worker.sentiment_requests() == calls + 3


def test_a_request_without_text_is_refused_unbilled_and_never_reaches_the_model(gateway, worker):
    calls = worker.sentiment_requests()
    before = billed(gateway)
    for body in (b"{}", b'{"text": null}', json.dumps({"question": "怎么退货？"}, ensure_ascii=False).encode()):
        status, headers, answer = ask(gateway, body)
        assert status in (400, 422), (body, status, answer)
        envelope = json.loads(answer)
        assert envelope["errorCode"] == status
        assert "text" in envelope["errorMsg"], envelope
        assert headers["x-deja-billed-tokens"] == "0"
    assert worker.sentiment_requests() == calls, "an invalid request reached the model"
    assert billed(gateway) == before


def test_the_answer_is_the_classification(gateway, worker):
    version = worker.health()["sentimentModel"]["version"]
    for text, label in (("这个东西质量很好，非常满意", "positive"), ("质量太差了，再也不买了", "negative")):
        status, headers, body = ask(gateway, text_body(text))
        assert status == 200, body
        assert headers["x-deja-model-version"] == version
        answer = json.loads(body)
        assert answer["errorCode"] == 0 and answer["errorMsg"] == "Success"
        assert set(answer["result"]) == {"label", "score"}
        assert answer["result"]["label"] == label, (text, answer)
        assert isinstance(answer["result"]["score"], float) and 0.5 <= answer["result"]["score"] <= 1.0
