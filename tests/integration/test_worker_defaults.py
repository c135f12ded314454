"""The gateway in front of the real worker configured as deja.example.yaml would be: every default the
worker reports on GET /health declared (they are PaddleX 3.7.2's, except the two document flags), so the
worker is told each one explicitly. Answers carry PaddleX's visualisation images, pages of a TIFF are
metered one by one, and what the client gets is what PaddleX's own models accept."""
import base64
import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from conftest import REPO, Gateway, text_image

sys.path.insert(0, str(REPO / "tests" / "conformance"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tiff(pages: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate")
    return buf.getvalue()


def page(label: str) -> Image.Image:
    img = Image.new("RGB", (240, 60), "white")
    ImageDraw.Draw(img).text((10, 20), label, fill="black")
    return img


@pytest.fixture(scope="module")
def schema():
    paddlex_schema = pytest.importorskip("paddlex_schema")
    if not (paddlex_schema.schema_root() / f".installed-{paddlex_schema.PADDLEX_VERSION}").exists():
        pytest.skip("PaddleX's schema is not installed: run tests/conformance/install_schema.sh")
    return paddlex_schema.load()


@pytest.fixture(scope="module")
def gateway(worker, tmp_path_factory):
    defaults = worker.health()["defaults"]
    gw = Gateway(worker.url, tmp_path_factory.mktemp("worker-defaults"), task={"defaults": defaults})
    gw.start()
    yield gw
    gw.stop()


def test_the_worker_reports_paddlex_s_defaults_but_the_document_flags(worker):
    defaults = worker.health()["defaults"]
    assert defaults == {
        "fileType": 1, "useDocOrientationClassify": False, "useDocUnwarping": False,
        "useTextlineOrientation": True, "textDetLimitSideLen": 64, "textDetLimitType": "min",
        "textDetThresh": 0.3, "textDetBoxThresh": 0.6, "textDetUnclipRatio": 1.5,
        "textRecScoreThresh": 0.0, "returnWordBox": False, "visualize": True,
    }


def test_a_miss_and_a_hit_carry_the_images_and_echo_the_log_id(schema, gateway, worker):
    body = json.dumps({"file": b64(text_image("IMAGES 1")), "logId": "client-1"}).encode()
    status, headers, first = gateway.post(body)
    assert status == 200 and headers["x-deja-cache"] == "miss", first[:300]
    model = schema.ResultResponse.model_validate_json(first)
    assert model.logId == "client-1"
    entry = model.result.ocrResults[0]
    assert entry.ocrImage and entry.inputImage and entry.docPreprocessingImage is None
    assert Image.open(io.BytesIO(base64.b64decode(entry.inputImage))).size == (220, 40)
    assert Image.open(io.BytesIO(base64.b64decode(entry.ocrImage))).size == (440, 40)
    assert b"null" not in first
    calls = worker.ocr_requests()
    status, headers, second = gateway.post(json.dumps({"file": b64(text_image("IMAGES 1")), "logId": "client-2",
                                                       "visualize": True, "textDetLimitSideLen": 64}).encode())
    assert status == 200 and headers["x-deja-cache"] == "hit", "explicit defaults must share the key"
    assert worker.ocr_requests() == calls
    assert json.loads(second)["logId"] == "client-2"
    assert second.replace(b'"client-2"', b'"client-1"') == first, "a hit is the miss's bytes under a new logId"
    # without images: another request to the model, and a much smaller answer
    status, headers, bare = gateway.post(json.dumps({"file": b64(text_image("IMAGES 1")), "visualize": False}).encode())
    assert status == 200 and headers["x-deja-cache"] == "miss"
    assert list(json.loads(bare)["result"]["ocrResults"][0]) == ["prunedResult"]
    assert len(bare) * 3 < len(first)


def test_a_multi_page_tiff_is_metered_per_page(schema, gateway):
    status, headers, answer = gateway.post(json.dumps({"file": b64(tiff([page("PAGE 1"), page("PAGE 2"), page("PAGE 3")])),
                                                       "visualize": False}).encode())
    assert status == 200, answer[:300]
    model = schema.ResultResponse.model_validate_json(answer)
    assert model.result.dataInfo.type == "tiff" and model.result.dataInfo.numPages == 3
    assert len(model.result.ocrResults) == 3
    assert headers["x-deja-tokens"] == headers["x-deja-billed-tokens"] == "30"  # perPage: 10


def test_what_the_worker_cannot_do_is_its_clear_422(gateway):
    picture = b64(text_image("NO DOC"))
    for member in ("useDocOrientationClassify", "useDocUnwarping"):
        status, headers, answer = gateway.post(json.dumps({"file": picture, member: True, "logId": "doc"}).encode())
        envelope = json.loads(answer)
        assert status == 422 and envelope["errorCode"] == 422, answer
        assert member in envelope["errorMsg"] and "not supported by this worker" in envelope["errorMsg"]
        assert envelope["logId"] == "doc" and headers["x-deja-billed-tokens"] == "0"
