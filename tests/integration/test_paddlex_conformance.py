"""PaddleX conformance: the real `deja` binary in front of a mock that handles /ocr PaddleX 3.7.2's way.

The mock (tests/conformance/paddlex_mock.py) validates with PaddleX's own request model and answers
exactly what PaddleX's basic-serving app answers (checked byte for byte against PaddleX's _app.py under
FastAPI by tests/conformance/crosscheck_fastapi.py). Every answer the gateway gives must parse with
PaddleX's own published models (AIStudioResultResponse[InferResult] / AIStudioNoResultResponse,
extracted unchanged from the paddlex wheel by tests/conformance/install_schema.sh, which this module
runs if needed). The target behaviour, with citations, is tests/conformance/FINDINGS.md.
"""
import base64
import io
import json
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import REPO, Gateway, free_port, http, text_image

sys.path.insert(0, str(REPO / "tests" / "conformance"))
import paddlex_mock  # noqa: E402
import paddlex_schema as px  # noqa: E402

JSON = {"Content-Type": "application/json"}


# --------------------------------------------------------------------------------------------------
# Declared defaults
# --------------------------------------------------------------------------------------------------


def paddlex_declared() -> dict:
    """What a gateway in front of a stock PaddleX 3.7.2 OCR server declares: PaddleX's own defaults
    (OCR.yaml + AppConfig), except the two coupled document-preprocessing flags, which cannot be declared
    member by member (FINDINGS.md, "Defaults"), plus fileType 1 (not a PaddleX default: a declared default
    the gateway must then send explicitly)."""
    declared = {k: v for k, v in px.paddlex_defaults().items()
                if k not in ("fileType", "useDocOrientationClassify", "useDocUnwarping")}
    declared["fileType"] = 1
    return declared


def example_declared() -> dict:
    """deja.example.yaml's declared defaults (the bundled worker's: PaddleX's, plus fileType and the two
    document flags, which PaddleX has no default for)."""
    import yaml

    config = yaml.safe_load((REPO / "deja.example.yaml").read_text())
    return dict(config["tasks"][0]["defaults"])


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    return px.load()


@pytest.fixture(scope="module")
def mock(schema, tmp_path_factory):
    files = tmp_path_factory.mktemp("mock-files")
    server = paddlex_mock.MockServer(files=files)
    server.files = files
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def fresh_mock(request):
    """Each test starts with an empty record and no planned failures."""
    if "mock" in request.fixturenames:
        server = request.getfixturevalue("mock")
        http("POST", server.url + "/received/reset", b"")
        http("POST", server.url + "/control", b"{}")
    yield


def start_gateway(upstream: str, folder: Path, defaults: dict, **task) -> Gateway:
    # These gateways forward URL files as they are (a deliberate setting; the default refuses them, see
    # test_a_url_is_refused_by_default): PaddleX's own handling of URLs is under test here.
    task = {"fileURLs": "forward", **task}
    gw = Gateway(upstream, folder, task={"defaults": defaults, **task})
    gw.start()
    return gw


@pytest.fixture(scope="module")
def gateway(mock, tmp_path_factory):
    """The gateway declaring PaddleX's defaults."""
    gw = start_gateway(mock.url, tmp_path_factory.mktemp("gw-paddlex"), paddlex_declared())
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def example_gateway(mock, tmp_path_factory):
    """The gateway declaring deja.example.yaml's defaults in front of PaddleX."""
    gw = start_gateway(mock.url, tmp_path_factory.mktemp("gw-example"), example_declared())
    try:
        yield gw
    finally:
        gw.stop()


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image(label: str) -> bytes:
    return text_image(f"paddlex {label}")


def body(**members) -> bytes:
    return json.dumps(members).encode()


def received(mock) -> list[dict]:
    status, _, answer = http("GET", mock.url + "/received")
    assert status == 200
    return json.loads(answer)


def fail_next(mock, count: int = 1, status: int = 500, message: str | None = None) -> None:
    control = {"failNext": count, "status": status}
    if message is not None:
        control["errorMsg"] = message
    assert http("POST", mock.url + "/control", json.dumps(control).encode(), JSON)[0] == 200


def ask_mock(mock, raw: bytes):
    """A request straight to the mock (= what PaddleX itself answers)."""
    return http("POST", mock.url + "/ocr", raw, JSON)


def raw_member(document: bytes, name: str) -> bytes:
    """The exact bytes of a top-level member's value in a JSON object."""
    text = document.decode("utf-8")
    decoder = json.JSONDecoder()

    def skip(i):
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    i = skip(0)
    assert text[i] == "{", document[:80]
    i += 1
    while True:
        i = skip(i)
        if text[i] == "}":
            raise KeyError(name)
        key, i = json.decoder.scanstring(text, i + 1)
        i = skip(i)
        assert text[i] == ":"
        i = skip(i + 1)
        _, end = decoder.raw_decode(text, i)
        if key == name:
            return text[i:end].encode("utf-8")
        i = skip(end)
        if text[i] == ",":
            i += 1


def assert_same_bytes(got: bytes, want: bytes, what: str = "result") -> None:
    """Byte equality, failing with the first difference in context."""
    if got == want:
        return
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    raise AssertionError(f"{what} is not the model's bytes: at byte {at} the gateway sent "
                         f"{got[max(0, at - 60):at + 40]!r}, the model wrote {want[max(0, at - 60):at + 40]!r}")


def assert_uuid4(log_id) -> None:
    assert isinstance(log_id, str), log_id
    parsed = uuid.UUID(log_id)
    assert str(parsed) == log_id, f"not the canonical lowercase 8-4-4-4-12 spelling: {log_id}"
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122, f"not a version-4 UUID: {log_id}"


def assert_success(schema, status, headers, answer, log_id: str | None = None):
    """A PaddleX success answer: parses with AIStudioResultResponse[InferResult], exactly PaddleX's four
    members, errorCode 0 / errorMsg Success, the request's logId or a new uuid4."""
    assert status == 200, answer[:500]
    assert headers["content-type"].split(";")[0].strip() == "application/json"
    model = schema.ResultResponse.model_validate_json(answer)
    assert set(json.loads(answer)) == {"logId", "result", "errorCode", "errorMsg"}
    assert model.errorCode == 0 and model.errorMsg == "Success"
    if log_id is None:
        assert_uuid4(model.logId)
    else:
        assert model.logId == log_id
    return model


def assert_error(schema, status, headers, answer, expected_status: int, message: str | None = None,
                 log_id: str | None = None):
    """A PaddleX error answer: parses with AIStudioNoResultResponse, exactly its three members,
    errorCode = HTTP status, never billed; the request's logId or a new uuid4."""
    assert status == expected_status, (status, answer[:500])
    assert headers["content-type"].split(";")[0].strip() == "application/json"
    model = schema.NoResultResponse.model_validate_json(answer)
    assert set(json.loads(answer)) == {"logId", "errorCode", "errorMsg"}
    assert model.errorCode == expected_status
    if message is not None:
        assert model.errorMsg == message
    if log_id is None:
        assert_uuid4(model.logId)
    else:
        assert model.logId == log_id
    assert headers.get("x-deja-billed-tokens", "0") == "0"
    return model


def paddlex_error(raw: bytes) -> tuple[int, str]:
    """PaddleX's answer to a request its validation refuses: (status, errorMsg)."""
    try:
        px.validate_request(raw, "application/json")
    except px.PaddleXError as error:
        return error.status, error.message
    raise AssertionError(f"PaddleX accepts {raw[:80]!r}")


def assert_forwarded(schema, forwarded: dict, asked: dict, declared: dict) -> None:
    """What reached the model is what the client asked, with every declared default explicit: for each
    InferRequest member, the client's value when it sent one (not null), else the declared default,
    else nothing; `file` carries the same bytes (or the same URL)."""
    model = schema.InferRequest.model_validate(forwarded)
    client = schema.InferRequest.model_validate(asked)
    defaults = schema.InferRequest.model_validate({"file": "", **declared})
    for name in schema.InferRequest.model_fields:
        if name in ("file", "logId"):
            continue
        want = getattr(client, name)
        if want is None:
            want = getattr(defaults, name)
        assert getattr(model, name) == want, f"{name}: forwarded {forwarded.get(name)!r}, expected {want!r} (asked {asked.get(name)!r})"
    if paddlex_mock.is_url(asked["file"]):
        assert forwarded["file"] == asked["file"]
    else:
        sent = asked["file"].split(",", 1)[1] if asked["file"].startswith("data:") else asked["file"]
        assert base64.b64decode(forwarded["file"], validate=True) == base64.b64decode("".join(sent.split())), \
            "the forwarded file is not plain base64 of the client's bytes"


# --------------------------------------------------------------------------------------------------
# Answers: a miss, a hit
# --------------------------------------------------------------------------------------------------


def test_a_miss_is_paddlex_s_answer_byte_for_byte(schema, mock, gateway):
    asked = {"file": b64(image("miss")), "fileType": 1, "textDetUnclipRatio": 2}
    status, headers, answer = gateway.post(json.dumps(asked).encode())
    assert_success(schema, status, headers, answer)
    assert headers["x-deja-cache"] == "miss"
    assert headers["x-deja-tokens"] == headers["x-deja-billed-tokens"] == "10"
    calls = received(mock)
    assert len(calls) == 1 and calls[0]["status"] == 200, calls[-1:]
    assert calls[0]["contentType"].split(";")[0] == "application/json"
    assert_forwarded(schema, calls[0]["json"], asked, paddlex_declared())
    # `result` exactly as the model wrote it: member order, number spellings (1.0, 2.0,
    # 0.30000001192092896, 3.0517578125e-05), UTF-8 text, the visualisation images.
    assert_same_bytes(raw_member(answer, "result"), raw_member(calls[0]["answer"].encode(), "result"))
    for spelling in (b'"unclip_ratio":2.0', b'"rec_scores":[1.0,0.9986572265625,0.30000001192092896,3.0517578125e-05]',
                     '"rec_texts":["发票号码"'.encode()):
        assert spelling in answer


def test_a_hit_is_the_same_bytes_under_a_new_log_id(schema, mock, gateway):
    raw = body(file=b64(image("hit")), fileType=1)
    status, headers, first = gateway.post(raw)
    assert_success(schema, status, headers, first)
    assert headers["x-deja-cache"] == "miss"
    status, headers, second = gateway.post(raw)
    second_model = assert_success(schema, status, headers, second)
    assert headers["x-deja-cache"] == "hit" and headers["x-deja-billed-tokens"] == "0"
    assert len(received(mock)) == 1, "a hit reached the model"
    assert_same_bytes(raw_member(first, "result"), raw_member(received(mock)[0]["answer"].encode(), "result"))
    assert_same_bytes(raw_member(second, "result"), raw_member(first, "result"), "the hit's result")
    assert second_model.logId != json.loads(first)["logId"]


def test_the_request_s_log_id_is_echoed_on_a_miss_and_on_a_hit(schema, mock, gateway):
    picture = b64(image("log id"))
    status, headers, answer = gateway.post(body(file=picture, fileType=1, logId="client-log-1"))
    assert_success(schema, status, headers, answer, log_id="client-log-1")
    assert headers["x-deja-cache"] == "miss"
    status, headers, answer = gateway.post(body(file=picture, fileType=1, logId="client-log-2"))
    assert_success(schema, status, headers, answer, log_id="client-log-2")
    assert headers["x-deja-cache"] == "hit"
    # An empty or null logId is no logId: a new one (ocr.py:46 `if request.logId`).
    for spelling in ("", None):
        status, headers, answer = gateway.post(body(file=picture, fileType=1, logId=spelling))
        assert_success(schema, status, headers, answer)


# --------------------------------------------------------------------------------------------------
# What reaches the model
# --------------------------------------------------------------------------------------------------


def test_every_declared_default_reaches_the_model_explicitly(schema, mock, example_gateway):
    """deja.example.yaml declares defaults PaddleX does not have (fileType, the two document flags, which
    PaddleX couples). A request that leaves them out is keyed as if it had sent them, so the model must be
    told them: otherwise PaddleX answers with its own defaults and that answer is served to every client
    who asked for the declared ones."""
    declared = example_declared()
    picture = b64(image("declared defaults"))
    asked = {"file": picture, "useTextlineOrientation": None}
    status, headers, answer = example_gateway.post(json.dumps(asked).encode())
    assert_success(schema, status, headers, answer)
    assert headers["x-deja-cache"] == "miss"
    forwarded = received(mock)[-1]["json"]
    assert_forwarded(schema, forwarded, asked, declared)

    # The client who spells every default out gets the same answer, from the cache; and it is what
    # PaddleX answers to the explicit request.
    explicit = {"file": picture, **declared}
    status, headers, again = example_gateway.post(json.dumps(explicit).encode())
    assert_success(schema, status, headers, again)
    assert headers["x-deja-cache"] == "hit"
    direct_status, _, direct = ask_mock(mock, json.dumps(explicit).encode())
    assert direct_status == 200
    assert_same_bytes(raw_member(again, "result"), raw_member(direct, "result"))
    pages = json.loads(again)["result"]["ocrResults"]
    # The images follow the declared visualize, whatever the model's own default.
    images = "ocrImage" in pages[0] and "inputImage" in pages[0]
    assert images == bool(declared["visualize"]), f"visualize: {declared['visualize']} was declared"
    assert pages[0]["prunedResult"]["text_det_params"]["limit_side_len"] == declared["textDetLimitSideLen"]


def test_the_client_s_own_values_reach_the_model(schema, mock, gateway):
    asked = {"file": b64(image("own values")), "fileType": 1, "visualize": False, "textDetLimitSideLen": 960,
             "textDetLimitType": "max", "textDetThresh": 0.3, "textRecScoreThresh": 0.5, "returnWordBox": True,
             "useDocOrientationClassify": False, "useDocUnwarping": True, "requestId": "r-1"}
    status, headers, answer = gateway.post(json.dumps(asked).encode())
    assert_success(schema, status, headers, answer)
    assert_forwarded(schema, received(mock)[-1]["json"], asked, paddlex_declared())
    pruned = json.loads(answer)["result"]["ocrResults"][0]["prunedResult"]
    assert pruned["text_det_params"]["limit_type"] == "max" and pruned["return_word_box"] is True
    assert "3.0517578125e-05" not in answer.decode(), "textRecScoreThresh 0.5 drops the lowest score"


def test_file_type_is_never_dropped_from_what_the_model_gets(schema, mock, gateway):
    """PaddleX refuses base64 without fileType (422 File type cannot be determined). A gateway that
    drops `fileType: 1` because it is the declared default breaks every request -- and remembers the
    refusal for the key that the valid request shares."""
    picture = b64(image("file type"))
    for asked in ({"file": picture, "fileType": 1}, {"file": picture}, {"file": picture, "fileType": None}):
        status, headers, answer = gateway.post(json.dumps(asked).encode())
        assert_success(schema, status, headers, answer)
    calls = received(mock)
    assert len(calls) == 1, "all three are one request"
    assert calls[0]["json"].get("fileType") == 1


def test_the_coupled_document_preprocessing_flags_are_kept_apart(schema, mock, gateway):
    """In PaddleX, {useDocOrientationClassify: false} alone runs no document preprocessing at all, but
    {useDocOrientationClassify: false, useDocUnwarping: true} runs unwarping (pipeline.py:231-237): the
    two are different requests and must get different answers."""
    picture = b64(image("doc flags"))
    status, headers, alone = gateway.post(body(file=picture, fileType=1, useDocOrientationClassify=False))
    assert_success(schema, status, headers, alone)
    status, headers, both = gateway.post(body(file=picture, fileType=1, useDocOrientationClassify=False, useDocUnwarping=True))
    assert_success(schema, status, headers, both)
    assert headers["x-deja-cache"] == "miss"
    alone_pruned = json.loads(alone)["result"]["ocrResults"][0]["prunedResult"]
    both_pruned = json.loads(both)["result"]["ocrResults"][0]["prunedResult"]
    assert alone_pruned["model_settings"]["use_doc_preprocessor"] is False
    assert both_pruned["doc_preprocessor_res"]["model_settings"] == {"use_doc_orientation_classify": False, "use_doc_unwarping": True}


def test_spellings_paddlex_accepts_are_accepted(schema, mock, gateway):
    """PaddleX validates in pydantic's lax mode: "false", "736", true as fileType 1 ... are valid."""
    asked = {"file": b64(image("lax")), "fileType": True, "visualize": "false", "textDetLimitSideLen": "736", "textDetThresh": "0.25"}
    status, headers, answer = gateway.post(json.dumps(asked).encode())
    assert_success(schema, status, headers, answer)
    assert_forwarded(schema, received(mock)[-1]["json"], asked, paddlex_declared())


def test_a_data_uri_reaches_the_model_as_plain_base64(schema, mock, gateway):
    """PaddleX's base64.b64decode cannot read a data URI (422 Invalid input file); the gateway accepts
    one as the same request, so it must send the model the plain base64."""
    picture = b64(image("data uri"))
    asked = {"file": "data:image/png;base64," + picture, "fileType": 1}
    status, headers, answer = gateway.post(json.dumps(asked).encode())
    assert_success(schema, status, headers, answer)
    assert_forwarded(schema, received(mock)[-1]["json"], asked, paddlex_declared())


def test_a_url_reaches_the_model_as_a_url(schema, mock, gateway):
    (mock.files / "url-input.png").write_bytes(image("url input"))
    asked = {"file": f"{mock.url}/files/url-input.png"}
    status, headers, answer = gateway.post(json.dumps(asked).encode())
    model = assert_success(schema, status, headers, answer)
    assert model.result.dataInfo.type == "image"
    assert_forwarded(schema, received(mock)[-1]["json"], asked, paddlex_declared())


def test_a_url_is_refused_by_default_and_nothing_fetches_it(schema, mock, tmp_path):
    """By default a URL `file` is refused: the gateway never makes the model server fetch an address a
    client chose. A server on 127.0.0.1 stands in for an internal address; nobody may ask it anything."""
    import http.server
    import threading

    asked_internal = []

    class Internal(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            asked_internal.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(image("internal secret"))

        def log_message(self, *args):
            pass

    internal = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Internal)
    threading.Thread(target=internal.serve_forever, daemon=True).start()
    gw = start_gateway(mock.url, tmp_path, paddlex_declared(), fileURLs="refuse")
    try:
        before = len(received(mock))
        url = f"http://127.0.0.1:{internal.server_address[1]}/admin/secret.png"
        for spelled in (url, url.upper().replace("HTTP://", "http://"), "HTTPS://127.0.0.1:1/x.png"):
            status, headers, answer = gw.post(body(file=spelled, logId="client-log-url"))
            assert_error(schema, status, headers, answer, 422, log_id="client-log-url")
            assert "URL" in json.loads(answer)["errorMsg"] and "base64" in json.loads(answer)["errorMsg"]
            assert headers["x-deja-billed-tokens"] == "0"
        assert asked_internal == []
        assert len(received(mock)) == before, "the model server must not be sent a URL"
    finally:
        gw.stop()
        internal.shutdown()


# --------------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------------


def tiff(pages: int) -> bytes:
    from PIL import Image, ImageDraw

    frames = []
    for number in range(pages):
        frame = Image.new("RGB", (200 + 20 * number, 60), "white")
        ImageDraw.Draw(frame).text((8, 20), f"TIFF PAGE {number + 1}", fill="black")
        frames.append(frame)
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def pdf(boxes: list[tuple[int, int]]) -> bytes:
    kids = " ".join(f"{3 + i} 0 R" for i in range(len(boxes)))
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {len(boxes)} >>"]
    objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] >>" for w, h in boxes]
    out, offsets = b"%PDF-1.4\n", []
    for number, text in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{text}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_a_multi_page_tiff_is_one_entry_per_page(schema, mock, gateway):
    asked = body(file=b64(tiff(3)), fileType=1, visualize=False)
    status, headers, answer = gateway.post(asked)
    model = assert_success(schema, status, headers, answer)
    assert len(model.result.ocrResults) == 3
    assert model.result.dataInfo.type == "tiff" and model.result.dataInfo.numPages == 3
    assert headers["x-deja-tokens"] == "30"
    status, headers, again = gateway.post(asked)
    assert headers["x-deja-cache"] == "hit" and headers["x-deja-tokens"] == "30"
    assert_same_bytes(raw_member(again, "result"), raw_member(answer, "result"), "the hit's result")


def test_a_pdf_is_one_entry_per_page(schema, mock, gateway):
    status, headers, answer = gateway.post(body(file=b64(pdf([(200, 100), (150, 100)])), fileType=0, visualize=False))
    model = assert_success(schema, status, headers, answer)
    assert model.result.dataInfo.type == "pdf" and model.result.dataInfo.numPages == 2
    assert [(p.width, p.height) for p in model.result.dataInfo.pages] == [(400, 200), (300, 200)]
    assert len(model.result.ocrResults) == 2 and headers["x-deja-tokens"] == "20"


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------

PICTURE = b64(text_image("paddlex invalid"))

# (name, body): requests PaddleX's validation refuses; the expected answer is PaddleX's own
# (paddlex_schema.validate_request, checked against FastAPI by crosscheck_fastapi.py).
REFUSED = [
    ("malformed JSON", b"{not json"),
    ("trailing garbage", b'{"file": "aGk=", "fileType": 1} x'),
    ("empty body", b""),
    ("not an object", b"[1, 2, 3]"),
    ("missing file", b'{"fileType": 1}'),
    ("null file", b'{"file": null, "fileType": 1}'),
    ("non-string file", b'{"file": 42, "fileType": 1}'),
    ("fileType 2", body(file=PICTURE, fileType=2)),
    ("fileType as a string", body(file=PICTURE, fileType="1")),
    ("bad option types", body(file=PICTURE, fileType=1, visualize="maybe", textDetThresh="abc", textDetLimitSideLen=736.5)),
    ("non-string textDetLimitType", body(file=PICTURE, fileType=1, textDetLimitType=5)),
    ("invalid UTF-8", b'{"file": "\xff", "fileType": 1}'),
]


@pytest.mark.parametrize("name,raw", REFUSED, ids=[name for name, _ in REFUSED])
def test_a_request_paddlex_refuses_gets_paddlex_s_answer(schema, mock, gateway, name, raw):
    expected_status, expected_message = paddlex_error(raw)
    for _ in range(2):  # and again: never remembered as anything else
        status, headers, answer = gateway.post(raw)
        assert_error(schema, status, headers, answer, expected_status, expected_message)


@pytest.mark.parametrize("raw", [
    b'{"fileType": 1, "logId": "client-log-7"}',
    b'{"file": 42, "logId": "client-log-7"}',
    body(file=PICTURE, fileType=1, visualize="maybe", logId="client-log-7"),
], ids=["missing file", "non-string file", "bad option type"])
def test_a_refusal_echoes_the_request_s_log_id(schema, mock, gateway, raw):
    expected_status, expected_message = paddlex_error(raw)
    status, headers, answer = gateway.post(raw)
    assert_error(schema, status, headers, answer, expected_status, expected_message, log_id="client-log-7")


@pytest.mark.parametrize("file", ["@@@ not base64 @@@", ""], ids=["undecodable", "empty"])
def test_a_file_that_is_not_base64_is_paddlex_s_invalid_input_file(schema, mock, gateway, file):
    """PaddleX validates `file` only as a string; base64.b64decode then fails (or gives no bytes) and
    the answer is 422 Invalid input file (_common/ocr.py:112-117)."""
    raw = body(file=file, fileType=1)
    direct_status, _, direct = ask_mock(mock, raw)
    assert direct_status == 422 and json.loads(direct)["errorMsg"] == "Invalid input file"
    status, headers, answer = gateway.post(raw)
    assert_error(schema, status, headers, answer, 422, "Invalid input file")


def test_an_undeterminable_file_type_is_paddlex_s_422_and_poisons_nothing(schema, mock, tmp_path):
    declared = {k: v for k, v in paddlex_declared().items() if k != "fileType"}
    gw = start_gateway(mock.url, tmp_path, declared)
    try:
        picture = b64(image("no file type"))
        status, headers, answer = gw.post(body(file=picture))
        assert_error(schema, status, headers, answer, 422, "File type cannot be determined")
        status, headers, answer = gw.post(body(file=picture, logId="client-log-8"))
        assert_error(schema, status, headers, answer, 422, "File type cannot be determined", log_id="client-log-8")
        status, headers, answer = gw.post(body(file=picture, fileType=1))
        assert_success(schema, status, headers, answer)
        # A URL tells its type by its file name; one that does not: 422 Unsupported file type.
        (mock.files / "document.bin").write_bytes(image("no file type"))
        status, headers, answer = gw.post(body(file=f"{mock.url}/files/document.bin"))
        assert_error(schema, status, headers, answer, 422, "Unsupported file type")
    finally:
        gw.stop()


def test_the_model_s_rejection_is_relayed_as_paddlex_wrote_it(schema, mock, gateway):
    raw = body(file=b64(b"this is not an image"), fileType=1)
    status, headers, answer = gateway.post(raw)
    assert_error(schema, status, headers, answer, 422, "Invalid input file")
    assert received(mock)[-1]["status"] == 422
    # Remembered (negative cache): the same answer, a new logId, or the request's.
    status, headers, again = gateway.post(raw)
    assert_error(schema, status, headers, again, 422, "Invalid input file")
    assert json.loads(again)["logId"] != json.loads(answer)["logId"]
    status, headers, again = gateway.post(body(file=b64(b"this is not an image"), fileType=1, logId="client-log-9"))
    assert_error(schema, status, headers, again, 422, "Invalid input file", log_id="client-log-9")


def test_an_upstream_5xx_is_a_paddlex_envelope(schema, mock, gateway):
    fail_next(mock, 1, 500)
    status, headers, answer = gateway.post(body(file=b64(image("upstream 500")), fileType=1))
    assert_error(schema, status, headers, answer, 502)
    # The pipeline failing inside (an unknown text detection limit type) is PaddleX's 500 too.
    status, headers, answer = gateway.post(body(file=b64(image("bad limit type")), fileType=1, textDetLimitType="bogus"))
    assert received(mock)[-1]["status"] == 500
    assert_error(schema, status, headers, answer, 502)


def test_an_unreachable_upstream_is_a_paddlex_envelope(schema, tmp_path):
    gw = start_gateway(f"http://127.0.0.1:{free_port()}", tmp_path, paddlex_declared(), healthCheckSeconds=0)
    try:
        status, headers, answer = gw.post(body(file=b64(image("unreachable")), fileType=1))
        assert_error(schema, status, headers, answer, 503)
    finally:
        gw.stop()


def test_an_unknown_or_missing_api_key_is_a_paddlex_401(schema, gateway):
    raw = body(file=PICTURE, fileType=1)
    for headers in ({**JSON, "Authorization": "Bearer dk_unknown"}, JSON):
        status, answer_headers, answer = http("POST", gateway.url + "/ocr", raw, headers)
        assert_error(schema, status, answer_headers, answer, 401)


def test_an_exhausted_budget_is_a_paddlex_429(schema, mock, gateway):
    gateway.key("conformance-budget")
    gateway.cli("quota", "set", "--tenant", "conformance-budget", "--period", "day", "--limit", "10")
    status, headers, answer = gateway.post(body(file=b64(image("budget 1")), fileType=1), tenant="conformance-budget")
    assert_success(schema, status, headers, answer)
    status, headers, answer = gateway.post(body(file=b64(image("budget 2")), fileType=1), tenant="conformance-budget")
    assert_error(schema, status, headers, answer, 429)
    assert int(headers["retry-after"]) > 0


def test_the_mock_is_paddlex_s_health_answer(schema, mock):
    """The mock itself: /health is PaddleX's (_app.py:205-209), so the gateway's health checks pass."""
    with urllib.request.urlopen(mock.url + "/health") as response:
        model = schema.NoResultResponse.model_validate_json(response.read())
    assert model.errorCode == 0 and model.errorMsg == "Healthy"
    assert_uuid4(model.logId)
