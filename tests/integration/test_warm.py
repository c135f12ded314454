"""`deja warm` and the memory preload at start, against the real PP-OCRv4 worker and the real binary."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

from conftest import DEJA_BIN, Gateway, http, ocr_body, text_image


def write_jsonl(path, bodies):
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


def warm(gw, *args, cwd):
    """`deja warm ARGS` with the gateway's configuration and an API key of tenant acme, from `cwd`."""
    env = gw.environment()
    env["DEJA_API_KEY"] = gw.key("acme")
    return subprocess.run([str(DEJA_BIN), "warm", *args, "--config", str(gw.config)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=cwd)


def metric(gw, name):
    text = urllib.request.urlopen(gw.url + "/metrics", timeout=10).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def billed(gw, tenant="acme"):
    status, _, body = http("GET", gw.url + "/v1/usage?groupBy=tenant",
                           headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200, body
    rows = [row for row in json.loads(body)["rows"] if row.get("tenant") == tenant]
    return sum(row["billedTokens"] for row in rows), sum(row["requests"] for row in rows)


def test_warm_jsonl_counts_bills_and_resumes_after_errors(gateway, worker, tmp_path):
    bodies = [ocr_body(text_image(f"warm jsonl {i}")) for i in range(5)] + [b'{"file": "never closed']
    source = write_jsonl(tmp_path / "requests.jsonl", bodies)
    before = worker.ocr_requests()

    first = warm(gateway, "--jsonl", str(source), "--concurrency", "2", "--every", "0.01", cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # one item failed: PaddleX answers unparsable JSON with 422
    assert "warmed 6 of 6 requests" in first.stdout
    assert "misses 5 (computed now and cached)" in first.stdout
    assert "errors 1 (422: 1)" in first.stdout, first.stdout
    # Plain progress lines (standard error is a pipe here), the last one complete.
    lines = [line for line in first.stderr.splitlines() if line.startswith("warm: ")]
    assert lines and lines[-1].startswith("warm: 6/6 100%"), first.stderr
    assert worker.ocr_requests() - before == 5
    tokens, _ = billed(gateway)
    assert tokens == 5 * 10  # perPage 10, one page each, billed to the key's tenant
    assert "billed 50 tokens" in first.stdout

    # The rerun resumes: the five answered items are skipped, the failed one is sent again.
    second = warm(gateway, "--jsonl", str(source), cwd=tmp_path)
    assert "resuming: 5 of 6 done by an earlier run" in second.stderr
    assert "warmed 1 of 1 requests" in second.stdout and "errors 1 (422: 1)" in second.stdout
    assert worker.ocr_requests() - before == 5

    # --restart sends everything again: now every answer is a hit, billed nothing.
    third = warm(gateway, "--jsonl", str(source), "--restart", cwd=tmp_path)
    assert "hits 5 (already cached)" in third.stdout and "misses 0" in third.stdout
    assert worker.ocr_requests() - before == 5
    assert billed(gateway)[0] == 50


def test_warm_ctrl_c_stops_cleanly_and_resumes(gateway, worker, tmp_path):
    bodies = [ocr_body(text_image(f"warm interrupted {i}")) for i in range(8)]
    source = write_jsonl(tmp_path / "many.jsonl", bodies)
    before = worker.ocr_requests()
    env = gateway.environment()
    env["DEJA_API_KEY"] = gateway.key("acme")
    proc = subprocess.Popen([str(DEJA_BIN), "warm", "--jsonl", str(source), "--concurrency", "1", "--every", "0.01",
                             "--config", str(gateway.config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    # Interrupt once the first answer is in.
    state = None
    deadline = time.time() + 300
    while time.time() < deadline:
        states = list(tmp_path.glob(".deja-warm-*.state"))
        if states and states[0].read_text().strip():
            state = states[0]
            break
        time.sleep(0.05)
    assert state is not None, "no item finished"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, (out, err)
    assert "stopping: waiting for the requests in flight" in err
    done = len(state.read_text().split())
    assert 1 <= done < 8
    assert f"interrupted after {done} of 8 requests" in out
    assert "run the same command again to resume" in out

    rerun = warm(gateway, "--jsonl", str(source), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {done} of 8 done by an earlier run" in rerun.stderr
    assert f"warmed {8 - done} of {8 - done} requests" in rerun.stdout
    # Every document went to the model exactly once over both runs.
    assert worker.ocr_requests() - before == 8
    assert len(state.read_text().split()) == 8


def test_warm_images_folder_wraps_them_as_the_task_expects(gateway, worker, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    images = {f"scan-{i}.png": text_image(f"warm folder {i}") for i in range(3)}
    for name, data in images.items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not an image")
    result = warm(gateway, "--images", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warmed 3 of 3 requests" in result.stdout and "misses 3" in result.stdout
    # A client's own request for the same image is now a hit.
    status, headers, _ = gateway.post(ocr_body(images["scan-1.png"]))
    assert status == 200 and headers["x-deja-cache"] == "hit"


def test_warm_refuses_what_it_cannot_do(gateway, tmp_path):
    missing_key = subprocess.run([str(DEJA_BIN), "warm", "--jsonl", "x.jsonl", "--config", str(gateway.config)],
                                 capture_output=True, text=True, timeout=60,
                                 env={k: v for k, v in gateway.environment().items() if k != "DEJA_API_KEY"})
    assert missing_key.returncode != 0 and "API key" in missing_key.stderr
    both = warm(gateway, "--jsonl", "x", "--images", "y", cwd=tmp_path)
    assert both.returncode != 0 and "exactly one of" in both.stderr


def test_preload_at_start_and_warm_from_ledger(worker, tmp_path):
    gw = Gateway(worker.url, tmp_path / "gw")
    gw.start()
    try:
        images = [text_image(f"preload {i}") for i in range(3)]
        for image in images:
            assert gw.post(ocr_body(image))[1]["x-deja-cache"] == "miss"
        for _ in range(3):
            assert gw.post(ocr_body(images[0]))[1]["x-deja-cache"] == "hit"
        assert gw.stop() == 0  # SIGTERM: the recently used keys are recorded on the way out

        gw.start()
        deadline = time.time() + 30
        while metric(gw, "deja_cache_preloaded_entries") != 3 and time.time() < deadline:
            time.sleep(0.1)
        assert metric(gw, "deja_cache_preloaded_entries") == 3
        assert "preloaded recently used answers into memory" in gw.log_path.read_text()
        status, headers, _ = gw.post(ocr_body(images[1]))
        assert status == 200 and headers["x-deja-cache"] == "hit"
        assert metric(gw, "deja_cache_preloaded_entries") == 2  # opened by its first request, now in L1

        # Killed: nothing recorded on the way out, so the next start preloads only what the last
        # recording (the clean stop above) listed; the ledger still knows what was repeated.
        gw.proc.kill()
        gw.proc.wait()
        gw.proc = None
        gw.log.close()
        gw.env["DEJA_PRELOAD_BYTES"] = "1048576"
        gw.start()
        time.sleep(0.5)
        env = gw.environment()
        env["DEJA_ADMIN_TOKEN"] = "test-admin-token"
        result = subprocess.run([str(DEJA_BIN), "warm", "--from-ledger", "--top", "2", "--since", "1h",
                                 "--config", str(gw.config)], capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        assert "2 found" in result.stdout, result.stdout
        # The most repeated key (images[0], asked four times) comes first and is loaded or already there.
        loaded = int(re.search(r"loaded into memory (\d+)", result.stdout).group(1))
        already = int(re.search(r"already in memory (\d+)", result.stdout).group(1))
        assert loaded + already == 2
        assert gw.post(ocr_body(images[0]))[1]["x-deja-cache"] == "hit"
    finally:
        gw.stop()


def test_preload_off_and_bad_setting(worker, tmp_path):
    gw = Gateway(worker.url, tmp_path / "off", env={"DEJA_PRELOAD_BYTES": "0"})
    gw.start()
    try:
        status, _, body = http("POST", gw.url + "/admin/warm", json.dumps({"top": 5}).encode(),
                               {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"})
        assert status == 400 and b"preloadBytes is 0" in body
    finally:
        gw.stop()
    bad = Gateway(worker.url, tmp_path / "bad", env={"DEJA_PRELOAD_BYTES": "-1"})
    result = bad.run_cli("serve")
    assert result.returncode != 0 and "preloadBytes" in (result.stderr + result.stdout)


def test_admin_warm_checks_its_body(gateway):
    def post(payload):
        return http("POST", gateway.url + "/admin/warm", payload,
                    {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"})
    status, _, body = post(b'{"keys": ["nothex"]}')
    assert status == 400 and b"keys[0]" in body
    assert post(b'{"top": 0}')[0] == 400
    assert post(b'{"top": 3, "task": "nope"}')[0] == 400
    assert post(b"[1,2]")[0] == 400
    status, _, body = post(json.dumps({"keys": ["ab" * 32]}).encode())
    assert status == 200 and json.loads(body)["notStored"] == 1
    assert http("POST", gateway.url + "/admin/warm", b'{"top": 1}', {"Content-Type": "application/json"})[0] == 401
