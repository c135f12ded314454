"""The container images and the compose file, checked without a container engine (none runs here): the
Dockerfiles' structure, the compose file's start order, and the gateway image's entrypoint run outside a
container with the image's files and environment — it starts, answers /readyz and stops on SIGTERM."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {"gateway": REPO / "deploy/docker/gateway.Dockerfile", "worker": REPO / "deploy/docker/worker.Dockerfile"}
COMPOSE = REPO / "deploy/compose/compose.yaml"
ENTRYPOINT = REPO / "deploy/docker/gateway-entrypoint.sh"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def image_tag_problem(image: str) -> str | None:
    if image == "scratch":
        return None
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    if not tag:
        return f"{image}: no tag (an implicit latest)"
    if tag == "latest":
        return f"{image}: the latest tag"
    return None


def dockerfile_problems(text: str, context: Path = REPO) -> list[str]:
    """What makes a Dockerfile unfit: untagged or latest base images, a final stage running as root, no
    HEALTHCHECK, an ENTRYPOINT/CMD in shell form (SIGTERM would stop at a shell), COPY sources missing."""
    found = []
    steps = instructions(text)
    stages = [i for i, (op, _) in enumerate(steps) if op == "FROM"]
    if not stages:
        return ["no FROM"]
    names = set()
    for index in stages:
        words = steps[index][1].split()
        image = words[0]
        if image not in names and (problem := image_tag_problem(image)):
            found.append(problem)
        if len(words) >= 3 and words[1].upper() == "AS":
            names.add(words[2])
    final = steps[stages[-1]:]
    users = [args.split(":")[0].strip() for op, args in final if op == "USER"]
    if not users or users[-1] in ("root", "0"):
        found.append("the final stage runs as root (no USER, or USER root)")
    if not any(op == "HEALTHCHECK" for op, _ in final):
        found.append("no HEALTHCHECK")
    for op, args in final:
        if op in ("ENTRYPOINT", "CMD") and not args.strip().startswith("["):
            found.append(f"{op} in shell form: {args}")
    for op, args in steps:
        if op == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                if not source.startswith("--") and not (context / source).exists():
                    found.append(f"COPY {source}: not in the build context")
    return found


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_dockerfiles_are_fit_for_production(image):
    text = DOCKERFILES[image].read_text()
    assert dockerfile_problems(text) == []
    if image == "gateway":
        froms = [args for op, args in instructions(text) if op == "FROM"]
        assert len(froms) == 2 and "swift:6.3" in froms[0] and "slim" in froms[1], "a Swift builder, a slim runtime"
        assert "--static-swift-stdlib" in text


@pytest.mark.parametrize("breakage", ["latest", "untagged", "root", "no healthcheck", "shell entrypoint", "missing source"])
def test_a_broken_dockerfile_fails_the_check(breakage):
    text = DOCKERFILES["gateway"].read_text()
    broken = {
        "latest": lambda t: t.replace("FROM debian:bookworm-slim", "FROM debian:latest"),
        "untagged": lambda t: t.replace("FROM debian:bookworm-slim", "FROM debian"),
        "root": lambda t: t.replace("USER 10001:10001", "USER root"),
        "no healthcheck": lambda t: re.sub(r"HEALTHCHECK[^\n]*\\\n[^\n]*\n", "", t),
        "shell entrypoint": lambda t: t.replace('ENTRYPOINT ["/usr/local/bin/deja-entrypoint"]', "ENTRYPOINT /usr/local/bin/deja-entrypoint"),
        "missing source": lambda t: t.replace("COPY Sources ./Sources", "COPY Sourcez ./Sources"),
    }[breakage](text)
    assert broken != text, breakage
    assert dockerfile_problems(broken), breakage


def test_the_build_context_leaves_out_builds_venvs_and_data():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".build", ".venv-worker", ".git", "deja-data"} <= ignored


def test_compose_starts_the_gateways_after_their_dependencies_are_healthy():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    gateways = [name for name in services if name.startswith("gateway")]
    assert len(gateways) == 2
    for name in gateways:
        depends = services[name]["depends_on"]
        assert set(depends) == {"redis", "postgres", "worker"}
        assert all(condition == {"condition": "service_healthy"} for condition in depends.values())
        assert "DEJA_SEAL_SECRETS" in services[name]["environment"]
    for name in ("redis", "postgres", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name, service in services.items():
        if "image" in service:
            assert image_tag_problem(service["image"]) is None, name
    ports = [service["ports"][0].split(":")[0] for name, service in services.items() if name in gateways]
    assert len(set(ports)) == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.skipif(not os.environ.get("DEJA_BIN"), reason="needs DEJA_BIN (the real deja binary)")
@pytest.mark.parametrize("config", ["mounted", "none"])
def test_the_gateway_entrypoint_starts_answers_readyz_and_stops_on_sigterm(config, tmp_path):
    """The image's entrypoint and environment (gateway.Dockerfile's ENV), outside a container: the binary
    is DEJA_BIN instead of /usr/local/bin/deja, and the storage folder and port are the test's own."""
    image_env = dict(re.findall(r"(DEJA_\w+)=(\S+)", next(args for op, args in instructions(DOCKERFILES["gateway"].read_text())
                                                         if op == "ENV")))
    assert image_env["DEJA_CONFIG"] == "/etc/deja/deja.yaml"
    port = free_port()
    env = {**os.environ, **image_env, "DEJA_BIN": os.environ["DEJA_BIN"], "DEJA_HOST": "127.0.0.1", "DEJA_PORT": str(port),
           "DEJA_STORAGE_PATH": str(tmp_path / "data"),
           "DEJA_CONFIG": str(REPO / "deploy/compose/deja.yaml") if config == "mounted" else str(tmp_path / "absent.yaml")}
    for name in ("DEJA_CACHE", "DEJA_LEDGER", "DEJA_SEAL_SECRETS", "DEJA_SEAL_SECRETS_FILE"):
        env.pop(name, None)
    proc = subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            try:
                status, body = get(f"http://127.0.0.1:{port}/readyz")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.2)
        assert status == 200, status
        checks = json.loads(body)["checks"]
        assert checks["ledger"] == "ok"
        if config == "mounted":  # the mounted configuration is the one served: its worker's host is not here
            assert checks["upstream.ocr"] == "unreachable", checks
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "the gateway exits 0 on SIGTERM: the signal reached it through the script"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not os.environ.get("DEJA_BIN"), reason="needs DEJA_BIN (the real deja binary)")
def test_the_compose_configuration_is_one_deja_accepts(tmp_path):
    result = subprocess.run([os.environ["DEJA_BIN"], "explain", "--config", str(REPO / "deploy/compose/deja.yaml"), "--jsonl"],
                            input='{"file": "aGVsbG8=", "fileType": 1}\n', capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DEJA_STORAGE_PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
