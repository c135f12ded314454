#!/usr/bin/env python3
"""Checks the mock against PaddleX's real serving app code under FastAPI (a developer tool, not a test).

    python tests/conformance/crosscheck_fastapi.py      # in a venv with fastapi, httpx, pydantic, PyYAML, Pillow

The app is built by PaddleX's own ``create_app`` and ``primary_operation``
(paddlex/inference/serving/basic_serving/_app.py, read from the extracted reference/ folder, unchanged),
so FastAPI's body parsing, PaddleX's three exception handlers and ``response_model_exclude_none`` are
the real ones. Only the pipeline is not: the endpoint body runs the mock's ``infer`` (the part of
_pipeline_apps/ocr.py after validation), turning its errors into what PaddleX raises there (an
HTTPException, or any other exception for the catch-all 500). The modules _app.py imports from
elsewhere in PaddleX (logging, deps, flags, pipelines, infra/utils) are stubbed in a temporary folder.

Every request of the battery goes to both; status, Content-Type and body must agree, with each
generated logId replaced by a placeholder. Success bodies are compared byte for byte; where FastAPI
serialises floats through pydantic-core (0.165.0 does, 0.115.12 does not: ``3.0517578125e-05`` becomes
``0.000030517578125``), they are compared as JSON and the difference is noted.
"""

import base64
import io
import json
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import paddlex_mock  # noqa: E402
import paddlex_schema as px  # noqa: E402

STUBS = {
    "paddlex/utils/logging.py": "import logging as _l\nexception = _l.exception\nerror = _l.error\nwarning = _l.warning\ninfo = _l.info\n",
    "paddlex/utils/flags.py": "SERVING_SERIAL_PIPELINE_CALLS = False\n",
    "paddlex/inference/pipelines/__init__.py": "class BasePipeline:\n    pass\n",
    "paddlex/inference/serving/basic_serving/__init__.py": "",
    "paddlex/inference/serving/infra/utils.py": (
        "import asyncio, uuid\nfrom functools import partial\n\n"
        "def generate_log_id():\n    return str(uuid.uuid4())\n\n"
        "def call_async(func, /, *args, **kwargs):\n"
        "    return asyncio.get_running_loop().run_in_executor(None, partial(func, *args, **kwargs))\n"
    ),
}
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def build_app():
    schema = px.load()
    folder = Path(tempfile.mkdtemp(prefix="paddlex-app-"))
    # The extracted schema (unchanged) and shim, then _app.py (unchanged), then the stubs.
    import shutil

    shutil.copytree(schema.root / "site", folder, dirs_exist_ok=True)
    target = folder / "paddlex/inference/serving/basic_serving/_app.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(schema.reference / "paddlex/inference/serving/basic_serving/_app.py", target)
    for name, text in STUBS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    with open(folder / "paddlex/utils/deps.py", "a") as deps:
        deps.write("\n\ndef class_requires_deps(*deps):\n    return lambda c: c\n\n\n"
                   "def function_requires_deps(*deps):\n    return lambda f: f\n")
    # Import PaddleX's app code from this folder instead of the plain schema site.
    for name in [m for m in sys.modules if m == "paddlex" or m.startswith("paddlex.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))

    from fastapi import HTTPException
    from paddlex.inference.serving.basic_serving._app import create_app, primary_operation
    from paddlex.inference.serving.infra.config import AppConfig
    from paddlex.inference.serving.infra.models import AIStudioResultResponse
    from paddlex.inference.serving.schemas.ocr import InferRequest, InferResult

    app, _ = create_app(pipeline=object(), app_config=AppConfig(), app_aiohttp_session=False)

    @primary_operation(app, "/ocr", "infer")
    async def _infer(request: InferRequest) -> AIStudioResultResponse[InferResult]:
        try:
            answer = paddlex_mock.infer(request)
        except px.PaddleXError as error:
            if error.echo_log_id:
                raise HTTPException(status_code=error.status, detail=error.message) from None
            raise RuntimeError(error.message) from None
        return AIStudioResultResponse[InferResult](logId=answer["logId"], result=InferResult(**answer["result"]))

    return app


def battery() -> list[tuple[str, bytes, str | None]]:
    from PIL import Image

    def png(w, h):
        out = io.BytesIO()
        Image.new("RGB", (w, h), "white").save(out, "PNG")
        return base64.b64encode(out.getvalue()).decode()

    def tiff(pages):
        out = io.BytesIO()
        frames = [Image.new("RGB", (40 + 10 * i, 30), "white") for i in range(pages)]
        frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:])
        return base64.b64encode(out.getvalue()).decode()

    image = png(120, 40)
    j = "application/json"
    cases = [
        ("miss, defaults", json.dumps({"file": image, "fileType": 1}).encode(), j),
        ("visualize false", json.dumps({"file": image, "fileType": 1, "visualize": False}).encode(), j),
        ("every option", json.dumps({"file": image, "fileType": 1, "useDocOrientationClassify": False, "useDocUnwarping": True,
                                     "useTextlineOrientation": False, "textDetLimitSideLen": 736, "textDetLimitType": "max",
                                     "textDetThresh": 0.2, "textDetBoxThresh": 0.5, "textDetUnclipRatio": 2,
                                     "textRecScoreThresh": 0.5, "returnWordBox": True, "visualize": False}).encode(), j),
        ("doc orientation false alone", json.dumps({"file": image, "fileType": 1, "useDocOrientationClassify": False, "visualize": False}).encode(), j),
        ("lax spellings", json.dumps({"file": image, "fileType": True, "visualize": "false", "textDetLimitSideLen": "736", "textDetThresh": "0.25"}).encode(), j),
        ("logId echoed", json.dumps({"file": image, "fileType": 1, "visualize": False, "logId": "client-log-1"}).encode(), j),
        ("empty logId", json.dumps({"file": image, "fileType": 1, "visualize": False, "logId": ""}).encode(), j),
        ("tiff, 3 pages", json.dumps({"file": tiff(3), "fileType": 1, "visualize": False}).encode(), j),
        ("malformed JSON", b"{not json", j),
        ("trailing garbage", b'{"file": "x", "fileType": 1} x', j),
        ("empty body", b"", j),
        ("not an object", b"[1, 2, 3]", j),
        ("missing file", b'{"fileType": 1}', j),
        ("missing file, logId", b'{"fileType": 1, "logId": "L-7"}', j),
        ("null file", b'{"file": null, "fileType": 1}', j),
        ("non-string file", b'{"file": 42, "fileType": 1}', j),
        ("fileType 2", json.dumps({"file": image, "fileType": 2}).encode(), j),
        ("fileType '1'", json.dumps({"file": image, "fileType": "1"}).encode(), j),
        ("bad option types", json.dumps({"file": image, "fileType": 1, "visualize": "maybe", "textDetThresh": "abc", "textDetLimitSideLen": 736.5}).encode(), j),
        ("no fileType", json.dumps({"file": image}).encode(), j),
        ("no fileType, logId", json.dumps({"file": image, "logId": "L-8"}).encode(), j),
        ("not an image", json.dumps({"file": base64.b64encode(b"not an image").decode(), "fileType": 1}).encode(), j),
        ("data URI", json.dumps({"file": "data:image/png;base64," + image, "fileType": 1}).encode(), j),
        ("bad limit type", json.dumps({"file": image, "fileType": 1, "textDetLimitType": "bogus", "logId": "L-9"}).encode(), j),
        ("non-string logId", json.dumps({"file": image, "fileType": 1, "logId": 5}).encode(), j),
        ("invalid UTF-8", b'{"file": "\xff", "fileType": 1}', j),
        ("text/plain", json.dumps({"file": image, "fileType": 1}).encode(), "text/plain"),
        ("vendor +json", json.dumps({"file": image, "fileType": 1, "visualize": False}).encode(), "application/vnd.x+json"),
    ]
    return cases


def normalise(body: bytes) -> bytes:
    return UUID.sub(b"<uuid4>", body)


def main() -> int:
    import fastapi
    from fastapi.testclient import TestClient

    app = build_app()
    client = TestClient(app, raise_server_exceptions=False)
    mock = paddlex_mock.MockServer()
    import urllib.error
    import urllib.request

    failures = 0
    print(f"fastapi {fastapi.__version__}; paddlex {px.PADDLEX_VERSION} _app.py")
    for name, body, content_type in battery():
        headers = {"content-type": content_type} if content_type else {}
        real = client.post("/ocr", content=body, headers=headers)
        request = urllib.request.Request(mock.url + "/ocr", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request) as response:
                status, ctype, answer = response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as error:
            status, ctype, answer = error.code, error.headers["Content-Type"], error.read()
        a, b = normalise(real.content), normalise(answer)
        same = real.status_code == status and real.headers["content-type"].split(";")[0] == ctype.split(";")[0]
        note = ""
        if same and a != b:
            try:
                same = json.loads(a) == json.loads(b)
                note = " (same JSON; FastAPI spells numbers differently)" if same else ""
            except ValueError:
                same = False
        print(f"{'ok  ' if same else 'DIFF'} {name}: {status}{note}")
        if not same:
            failures += 1
            print(f"     FastAPI: {real.status_code} {real.headers['content-type']} {a[:300]!r}")
            print(f"     mock:    {status} {ctype} {b[:300]!r}")
    mock.stop()
    print(f"{failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
