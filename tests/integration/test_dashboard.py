"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against the real
gateway in front of the real PP-OCRv4 + sentiment worker.

Signs in as the admin and as a tenant, checks every figure on the page against `/v1/usage` for the same
period, checks a tenant sees nothing of another tenant's, that the page works without JavaScript and
fetches nothing from elsewhere, and saves screenshots under the test output folder
($DEJA_TEST_OUTPUT, default .build/test-output/dashboard); with DEJA_UPDATE_SCREENSHOT=1 it also
writes the README's docs/dashboard.png.
"""
import json
import os
import shutil
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import REPO, Gateway, http, ocr_body, sentiment_task, text_image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("DEJA_TEST_OUTPUT", REPO / ".build" / "test-output")) / "dashboard"
FINANCE = "财务部"  # a tenant named in Chinese, as the README's invoices are
FIELDS = ["requests", "hits", "coalesced", "misses", "errors", "billedTokens", "savedTokens"]


@pytest.fixture(scope="module")
def site(worker, invoices, tmp_path_factory):
    """A gateway with the OCR and sentiment tasks and known traffic from two tenants."""
    gw = Gateway(worker.url, tmp_path_factory.mktemp("dashboard"), extra_tasks=[sentiment_task(worker)])
    gw.start()
    try:
        invoice = ocr_body(invoices("20261203-0001"))
        other = ocr_body(text_image("DASHBOARD 2"))
        keys = {}
        for _ in range(4):  # one miss, three hits
            status, headers, _ = gw.post(invoice, tenant=FINANCE)
            assert status == 200
            keys["invoice"] = headers["x-deja-key"]
        for _ in range(2):
            assert gw.post(other, tenant=FINANCE)[0] == 200
        for text in ("how do I return this?", "  how do I   return this? "):
            status, headers, _ = gw.post(json.dumps({"text": text}).encode(), tenant=FINANCE, route="/sentiment")
            assert status == 200
        status, _, _ = gw.post(b'{"file": 1}', tenant=FINANCE)  # bad input: a 4xx error, never billed
        assert 400 <= status < 500
        for _ in range(3):
            status, headers, _ = gw.post(json.dumps({"text": "globex only: 太好用了"}).encode(), tenant="globex", route="/sentiment")
            assert status == 200
            keys["globex"] = headers["x-deja-key"]
        yield gw, keys, invoice
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def usage(gw: Gateway, secret: str, **query) -> dict:
    status, _, body = http("GET", f"{gw.url}/v1/usage?{urllib.parse.urlencode(query)}",
                           headers={"Authorization": f"Bearer {secret}"})
    assert status == 200, body
    return json.loads(body)


def sign_in(page, gw: Gateway, secret: str, lang: str = "en") -> None:
    page.goto(f"{gw.url}/dashboard?lang={lang}")
    page.fill("#key", secret)
    page.click("#sign-in")
    page.wait_for_selector("#totals")


def shown(page, selector: str) -> dict[str, str]:
    """The data-value of each data-field under `selector`."""
    return page.eval_on_selector_all(
        f"{selector} [data-field]", "cells => Object.fromEntries(cells.map(c => [c.dataset.field, c.dataset.value]))")


def check_against_usage(page, gw: Gateway, secret: str, tenant: str | None = None) -> dict:
    """Every card, task row and total on the page equals /v1/usage for the page's own period."""
    period = page.locator("#period")
    bounds = {"from": period.get_attribute("data-from"), "to": period.get_attribute("data-to")}
    report = usage(gw, secret, groupBy="task", **bounds, **({"tenant": tenant} if tenant else {}))
    totals = report["totals"]
    cards = shown(page, "#totals")
    for field in ("requests", "billedTokens", "savedTokens", "errors"):
        assert int(cards[field]) == totals[field], field
    assert float(cards["hitRatio"]) == pytest.approx(totals["hitRatio"])
    assert float(cards["modelSecondsSaved"]) == pytest.approx(totals["modelSecondsSaved"])
    rows = {row["task"]: row for row in report["rows"]}
    page_rows = page.eval_on_selector_all("#tasks tbody tr", "rows => rows.map(r => r.dataset.task)")
    assert sorted(page_rows) == sorted(rows)
    for task, row in rows.items():
        cells = shown(page, f'#tasks tbody tr[data-task="{task}"]')
        for field in FIELDS:
            assert int(cells[field]) == row[field], (task, field)
    footer = shown(page, "#tasks tfoot")
    for field in FIELDS:
        assert int(footer[field]) == totals[field], field
    # The hourly chart draws the same requests: the bars' tooltips sum to the total.
    by_hour = usage(gw, secret, groupBy="hour", **bounds, **({"tenant": tenant} if tenant else {}))
    assert sum(row["requests"] for row in by_hour["rows"]) == totals["requests"]
    drawn = page.eval_on_selector_all(
        "#requests-chart rect title",
        "titles => titles.map(t => Number(t.textContent.split(': ').pop().replace(/[^0-9.]/g, '')))")
    assert sum(drawn) == totals["requests"]
    return report


def test_admin_sees_every_tenant_and_the_figures_are_the_ledgers(site, browser):
    gw, keys, _ = site
    OUTPUT.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested, violations = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    sign_in(page, gw, "test-admin-token")
    assert "test-admin-token" not in page.url

    report = check_against_usage(page, gw, "test-admin-token")
    assert report["totals"]["requests"] == 12
    assert report["totals"]["hits"] >= 3 + 1 + 1 + 2  # invoice, image, the re-spaced question, globex
    # The most repeated request is the invoice: 4 requests, 3 from cache.
    top = page.locator("#repeated tbody tr").first
    assert top.get_attribute("data-key") == keys["invoice"]
    assert int(top.locator('[data-field="requests"]').get_attribute("data-value")) == 4
    assert int(top.locator('[data-field="cached"]').get_attribute("data-value")) == 3
    errors = page.eval_on_selector_all("#errors tbody tr", "rows => rows.map(r => [r.dataset.task, Number(r.dataset.status)])")
    assert len(errors) == 1 and errors[0][0] == "ocr" and 400 <= errors[0][1] < 500
    # The cache and the model servers, which only the admin sees.
    assert page.locator("#cache").count() == 1
    assert page.locator("#servers tbody tr").count() == 2

    # One tenant at a time, through the form.
    page.select_option("#tenant", "globex")
    page.click("form.period button")
    page.wait_for_selector("#totals")
    assert page.locator("#period").get_attribute("data-tenant") == "globex"
    globex = check_against_usage(page, gw, "test-admin-token", tenant="globex")
    assert globex["totals"]["requests"] == 3
    page.select_option("#tenant", "")
    page.click("form.period button")
    page.wait_for_selector("#totals")

    # Nothing was fetched from anywhere but the gateway, and the policy refused nothing the page needs.
    assert requested and all(url.startswith(gw.url) for url in requested), requested
    assert violations == []
    page.screenshot(path=str(OUTPUT / "admin.png"), full_page=True)
    if os.environ.get("DEJA_UPDATE_SCREENSHOT") == "1":
        from PIL import Image

        page.set_viewport_size({"width": 1100, "height": 760})
        page.screenshot(path=str(OUTPUT / "readme.png"))
        # A 64-colour palette keeps the README's copy small; the page has few colours.
        Image.open(OUTPUT / "readme.png").convert("RGB").quantize(64).save(REPO / "docs" / "dashboard.png", optimize=True)

    # Signing out forgets the key.
    page.click("#sign-out")
    page.wait_for_selector("#key")
    assert not [c for c in context.cookies() if c["name"] == "deja_session"]
    context.close()


def test_a_tenant_sees_only_its_own_without_javascript(site, browser):
    gw, keys, invoice = site
    OUTPUT.mkdir(parents=True, exist_ok=True)
    secret = gw.key(FINANCE)
    # No script at all: sign-in, pages and forms work as plain HTML.
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, gw, secret, lang="zh")
    assert secret not in page.url
    cookie = next(c for c in context.cookies() if c["name"] == "deja_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert secret not in cookie["value"]  # encoded, though the browser holds it either way

    assert page.locator("#viewer").inner_text().endswith(FINANCE)
    assert "命中率" in page.content()
    assert page.locator("#tenant").count() == 0 and page.locator("#cache").count() == 0

    # The page's figures are the tenant's own /v1/usage, read with its own key.
    report = check_against_usage(page, gw, secret)
    assert report["tenant"] == FINANCE and report["totals"]["requests"] == 9
    html = page.content()
    assert "globex" not in html and keys["globex"][:16] not in html
    page.screenshot(path=str(OUTPUT / "tenant-zh-phone.png"), full_page=True)

    # Another tenant's figures and keys are refused.
    response = page.goto(f"{gw.url}/dashboard?tenant=globex")
    assert response.status == 403
    response = page.goto(f"{gw.url}/dashboard/keys/{keys['globex']}")
    assert response.status == 404

    # Its own key: the page counts it, and explaining the same request gives the same key.
    response = page.goto(f"{gw.url}/dashboard/keys/{keys['invoice']}?lang=en")
    assert response.status == 200
    assert int(page.locator('#key-stats [data-field="requests"]').get_attribute("data-value")) == 4
    assert page.locator("#memory").inner_text().startswith("In this instance's memory")
    page.fill("#body", invoice.decode())
    page.click("#explain")
    page.wait_for_selector("#verdict")
    assert page.locator("#verdict").get_attribute("data-same") == "true"
    assert page.locator("#steps li").count() >= 1
    context.close()


def test_sign_in_refuses_a_wrong_key_and_other_sites_forms(site, browser):
    gw, _, _ = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{gw.url}/dashboard")
    page.fill("#key", "not-a-key")
    with page.expect_response(lambda response: response.url.endswith("/dashboard/login")) as answer:
        page.click("#sign-in")
    assert answer.value.status == 401
    assert page.locator("#sign-in-failed").count() == 1
    assert not [c for c in context.cookies() if c["name"] == "deja_session"]
    context.close()

    # A form posted from another site is refused before the key is looked at.
    status, headers, body = http("POST", f"{gw.url}/dashboard/login", b"key=test-admin-token",
                                 {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
    assert status == 403 and "set-cookie" not in headers
    # Every answer carries the policy: no script, nothing from elsewhere.
    status, headers, _ = http("GET", f"{gw.url}/dashboard")
    assert status == 200
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert headers["cache-control"] == "no-store"
