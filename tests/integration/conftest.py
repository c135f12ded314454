"""Fixtures that start the real PP-OCRv4 worker and the real `deja` binary for integration tests.

The worker is started once per session (loading PP-OCRv4 takes seconds); each gateway fixture gets its
own storage folder and port. Everything started here is stopped at the end, even on failure.
"""
import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEJA_BIN = Path(os.environ.get("DEJA_BIN", REPO / ".build" / "debug" / "deja"))
PYTHON = sys.executable
# One seal secret for every gateway of the session that shares a cache (Redis) and is given none: a gateway
# with Redis and no secret refuses to start, and instances sharing Redis must open each other's entries.
SHARED_CACHE_SEAL_SECRETS = "test " + base64.b64encode(os.urandom(32)).decode()
SEAL_VARIABLES = ("DEJA_SEAL_SECRETS", "DEJA_SEAL_SECRETS_FILE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except Exception as error:  # noqa: BLE001 - any failure means not up yet
            last = error
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 120):
    """One HTTP request; returns (status, headers as a lowercase dict, body bytes). Never raises on 4xx/5xx."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


class Worker:
    def __init__(self, url: str):
        self.url = url

    def stats(self) -> dict:
        status, _, body = http("GET", self.url + "/stats")
        assert status == 200
        return json.loads(body)

    def ocr_requests(self) -> int:
        return self.stats()["ocrRequests"]

    def sentiment_requests(self) -> int:
        return self.stats()["sentimentRequests"]

    def health(self) -> dict:
        status, _, body = http("GET", self.url + "/health")
        assert status == 200
        return json.loads(body)


def sentiment_task(worker: Worker, **overrides) -> dict:
    """The sentiment task of a gateway config: POST /sentiment {"text": ...} in front of the worker's classifier,
    keyed on the text as a reader would compare it, billed one token per model call."""
    return {
        "name": "sentiment",
        "route": "/sentiment",
        "protocol": "paddlex-sentiment",
        "upstream": f"{worker.url}/sentiment",
        "model": {"name": "deja-sentiment", "version": worker.health()["sentimentModel"]["version"]},
        "ttlSeconds": 300,
        "defaults": {},
        "binaryFields": [],
        "requiredFields": ["text"],
        "textRules": {"text": {"form": "nfkc", "trim": True, "collapseWhitespace": True, "cjkSpacing": True}},
        "meter": {"perRequest": 1},
        **overrides,
    }


@contextlib.contextmanager
def running_worker(name: str = "deja-worker", env: dict[str, str] | None = None):
    """A real worker process on a free port, with `env` added to its environment; stopped on exit."""
    port = free_port()
    log = open(Path(tempfile.gettempdir()) / f"{name}-{port}.log", "wb")
    proc = subprocess.Popen(
        [PYTHON, str(REPO / "worker" / "server.py"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", 300, proc)
        yield Worker(f"http://127.0.0.1:{port}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def worker():
    with running_worker() as started:
        yield started


class Gateway:
    """A running `deja serve` with its own storage folder and an API key."""

    def __init__(self, worker_url: str, storage: Path, task: dict | None = None, server: dict | None = None,
                 stores: dict | None = None, extra_tasks: list[dict] | None = None,
                 env: dict[str, str | None] | None = None):
        """`task` overrides members of the OCR task; `extra_tasks` are whole tasks served beside it; `env`
        sets (or, with `None`, removes) environment variables of `deja serve` and of every `deja` command
        run through `cli` — change `gw.env` between a `stop()` and a `start()` to restart differently."""
        storage.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self.env = dict(env or {})
        self.shares_cache = bool((stores or {}).get("cache"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = storage / "deja.yaml"
        settings = {
            "server": {"host": "127.0.0.1", "port": self.port, **(server or {})},
            "storage": {"path": str(storage / "data"), "memoryBytes": 64 << 20, **(stores or {})},
            "adminToken": "test-admin-token",
            "logLevel": "info",
            "tasks": [{
                "name": "ocr",
                "route": "/ocr",
                "upstream": f"{worker_url}/ocr",
                "model": {"name": "PP-OCRv4", "version": "test-1"},
                "ttlSeconds": 3600,
                "volatileFields": ["requestId", "timestamp"],
                "defaults": {"fileType": 1, "useTextlineOrientation": False, "visualize": False},
                "meter": {"perPage": 10},
                **(task or {}),
            }, *(extra_tasks or [])],
        }
        # JSON is YAML: the gateway reads this file with its YAML loader.
        self.config.write_text(json.dumps(settings, indent=2))
        self.proc = None
        self.log_path = storage / "gateway.log"
        self.keys: dict[str, str] = {}

    def environment(self) -> dict[str, str]:
        """This process's environment with `env` applied; a gateway sharing a cache that is given no seal
        secret (neither in `env` nor in this process's environment) gets the session's."""
        merged = dict(os.environ)
        if self.shares_cache and not any(name in self.env or name in os.environ for name in SEAL_VARIABLES):
            merged["DEJA_SEAL_SECRETS"] = SHARED_CACHE_SEAL_SECRETS
        for name, value in self.env.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return merged

    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        """`deja ARGS --config <this config>`, whatever its exit code."""
        return subprocess.run([str(DEJA_BIN), *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=120, env=self.environment())

    def cli(self, *args: str) -> str:
        result = self.run_cli(*args)
        assert result.returncode == 0, f"deja {' '.join(args)} failed: {result.stderr}"
        return result.stdout

    def key(self, tenant: str) -> str:
        if tenant not in self.keys:
            self.keys[tenant] = self.cli("keys", "create", "--tenant", tenant, "--quiet").strip()
        return self.keys[tenant]

    def start(self) -> None:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(DEJA_BIN), "serve", "--config", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.environment())
        try:
            wait_for(self.url + "/healthz", 60, self.proc)
        except RuntimeError as error:
            raise RuntimeError(f"{error}; gateway log:\n{self.log_path.read_text()[-2000:]}") from None

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        self.log.close()
        return code

    def post(self, body: bytes, tenant: str = "acme", headers: dict | None = None, route: str = "/ocr"):
        all_headers = {"Authorization": f"Bearer {self.key(tenant)}", "Content-Type": "application/json"}
        all_headers.update(headers or {})
        return http("POST", self.url + route, body, all_headers)


@pytest.fixture
def gateway(worker, tmp_path):
    gw = Gateway(worker.url, tmp_path)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="session")
def invoices(tmp_path_factory):
    """Makes invoice PNGs on demand: invoices(number) -> bytes; `buyer_id`, `phone` and `bank_card` print
    that personal data on it too (make_invoice.py --buyer-id, --phone, --bank-card)."""
    folder = tmp_path_factory.mktemp("invoices")
    made: dict[tuple, bytes] = {}

    def make(number: str = "20261129-0042", buyer_id: str | None = None, phone: str | None = None,
             bank_card: str | None = None) -> bytes:
        wanted = (number, buyer_id, phone, bank_card)
        if wanted not in made:
            out = folder / f"invoice-{len(made)}-{number}.png"
            personal = [arg for flag, value in (("--buyer-id", buyer_id), ("--phone", phone), ("--bank-card", bank_card))
                        if value is not None for arg in (flag, value)]
            subprocess.run([PYTHON, str(REPO / "worker" / "make_invoice.py"), "--out", str(out), "--number", number,
                            *personal], check=True, timeout=60)
            made[wanted] = out.read_bytes()
        return made[wanted]

    return make


def text_image(label: str) -> bytes:
    """A small PNG showing `label`: a distinct image per label, cheap to render and quick to OCR."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (220, 40), "white")
    ImageDraw.Draw(img).text((8, 12), label, fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def ocr_body(image: bytes, **extra) -> bytes:
    return json.dumps({"file": base64.b64encode(image).decode(), "fileType": 1, **extra}).encode()
