"""The live board end to end: a real worker fed by the embedded broker, a real
Alertmanager it pushes to, and headless Chromium (Debian's, driven by
Playwright) loading the page the worker serves.

One worker serves the whole module (a scenario takes minutes to play); the
tests run in order: the board shows data, details, a mute, then what the mute
did to Alertmanager and to a worker started afterwards.
"""
from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from detectors.records import parse_time

from tests.harness import (ORGANIC, REPO, Worker, backtest_alerts, produce, read_alerts, read_topic,
                           scenario_lines, start_broker, temp_dir, wait_for)
from tests.integration import promstack

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCRIPT = "<script>alert(1)</script>"
DOCS = REPO / "docs"

pytestmark = [
    pytest.mark.browser, pytest.mark.broker, pytest.mark.prometheus,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed"),
    pytest.mark.skipif(promstack.ALERTMANAGER is None, reason="alertmanager not installed"),
]


def scenario_with_script_post() -> tuple[list[bytes], dict]:
    """The organic scenario and its first emerging alert (found by a backtest),
    with ``<script>`` appended to the posts of that tag around the firing
    minute: the alert's sample posts are the firing minute's first posts, and
    a loaded machine may close the live worker's minutes a little differently."""
    lines = scenario_lines("organic_emerging", **ORGANIC)
    first = next(a for a in backtest_alerts(lines) if a["kind"] == "emerging" and a["status"] == "firing")
    fired = parse_time(first["at"], "at")
    for i, line in enumerate(lines):
        post = orjson.loads(line)
        if first["subject"] in post["text"] and abs(parse_time(post["created_at"], "created_at") - fired) < 300:
            post["text"] += f" {SCRIPT}"
            lines[i] = orjson.dumps(post)
    return lines, first


@pytest.fixture(scope="module")
def stack():
    workdir = temp_dir("rasd-board-")
    alertmanager = promstack.start_alertmanager(workdir / "am")
    broker = start_broker()
    worker = Worker(broker.bootstrap, workdir, name="board", extra_env={
        "RASD_ALERTMANAGER_URL": alertmanager.url, "RASD_ALERTMANAGER_RESEND_SECONDS": "1"}).start()
    try:
        lines, expected = scenario_with_script_post()
        produce(broker.bootstrap, lines)
        wait_for(lambda: any(a["id"] == expected["id"] for a in read_alerts(broker.bootstrap)), 300,
                 what="the first emerging alert from the live worker")
        # the board ranks the latest closed minute; once the feed is played out that is the alert's tag
        wait_for(lambda: any(row["subject"] == expected["subject"]
                             for row in worker.get_json("/api/trending")["items"]), 300,
                 what="the alert's tag trending")
        yield {"worker": worker, "broker": broker, "alertmanager": alertmanager, "alert": expected,
               "workdir": workdir}
    finally:
        worker.stop()
        broker.stop()
        broker.remove()
        alertmanager.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ar-IQ")
    page = context.new_page()
    page.dialogs = []  # an alert() from injected markup would land here
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def am_alert(stack, alert_id: str) -> dict | None:
    """The active Alertmanager alert of a Rasd episode, if any."""
    alerts = promstack.http_json(stack["alertmanager"].url + "/api/v2/alerts")[1]
    return next((a for a in alerts if a["labels"].get("rasd_id") == alert_id), None)


def post_json(url: str, body: dict) -> tuple[int, dict]:
    return promstack.http_json(url, body)


def test_board_shows_trending_alerts_and_platforms(stack, page):
    worker, alert = stack["worker"], stack["alert"]
    page.goto(worker.web_url + "/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.locator("#trending tr bdi", has_text=alert["subject"]).first.wait_for(timeout=60_000)
    card = page.locator(f'#alerts .alert[data-id="{alert["id"]}"]')
    card.wait_for(timeout=60_000)
    assert card.get_attribute("data-kind") == "emerging"
    assert alert["subject"] in card.inner_text()
    assert page.locator("#trending svg.spark polyline").count() > 0
    page.locator("#platforms li.platform").first.wait_for(timeout=30_000)
    assert page.locator("#kinds .chip").count() == 6
    page.screenshot(path=str(DOCS / "board.png"), full_page=True)
    assert not page.errors


def test_alert_details_render_post_text_as_text(stack, page):
    worker, alert = stack["worker"], stack["alert"]
    page.goto(worker.web_url + f"/#alert/{alert['id']}")
    detail = page.locator("#detail")
    detail.wait_for(state="visible", timeout=30_000)
    page.locator("#detail-title bdi", has_text=alert["subject"]).wait_for(timeout=30_000)
    body = page.locator("#detail-body")
    assert page.locator("#detail .facts-grid dd").count() >= 4  # observed, expected, score, started
    assert body.locator(".timeline li").count() >= 1
    assert body.locator("a[href*='from=']").count() == 1  # Grafana, around the alert's time
    assert body.locator("ol li bdi").count() >= 1  # driving accounts
    samples = worker.get_json(f"/api/alerts/{alert['id']}")["evidence"]["sample_posts"]
    assert any(SCRIPT in p["text"] for p in samples), samples
    script_post = body.locator(".post .text", has_text=SCRIPT).first
    script_post.wait_for(timeout=10_000)
    assert SCRIPT in script_post.inner_text()
    assert page.locator("#detail-body script").count() == 0
    assert not page.dialogs and not page.errors
    page.screenshot(path=str(DOCS / "board-alert.png"))


def test_phone_width_layout(stack, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True, locale="ar-IQ")
    try:
        page = context.new_page()
        page.goto(stack["worker"].web_url + "/")
        page.locator("#alerts .alert").first.wait_for(timeout=30_000)
        # one column, nothing wider than the screen
        too_wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((e) => { const r = e.getBoundingClientRect(); return r.left < -1 || r.right > 391; })
            .map((e) => `${e.tagName}.${e.className}: ${e.textContent.slice(0, 40)}`)""")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, too_wide
        alerts_box = page.locator("#alerts-panel").bounding_box()
        trending_box = page.locator(".panel.trending").bounding_box()
        assert trending_box["y"] >= alerts_box["y"] + alerts_box["height"]
        page.screenshot(path=str(DOCS / "board-phone.png"))
    finally:
        context.close()


def test_alert_is_pushed_to_alertmanager(stack):
    alert = stack["alert"]
    pushed = wait_for(lambda: am_alert(stack, alert["id"]), 60, what="the alert in Alertmanager")
    assert pushed["labels"]["alertname"] == "RasdEmerging"
    assert pushed["annotations"]["subject"] == alert["subject"]
    assert pushed["status"]["state"] == "active"


def test_mute_from_the_board(stack, page):
    worker, alert = stack["worker"], stack["alert"]
    page.goto(worker.web_url + f"/#alert/{alert['id']}")
    page.locator("#act-mute").wait_for(timeout=30_000)
    page.fill("#act-by", "ليلى")
    page.select_option("#act-minutes", "60")
    page.click("#act-mute")
    page.locator("#act-unmute").wait_for(timeout=10_000)
    assert "ليلى" in page.locator("#detail-body .notice").inner_text()
    page.click("#detail-close")
    page.locator(f'#alerts .alert.is-muted[data-id="{alert["id"]}"]').wait_for(timeout=10_000)

    mute = worker.get_json(f"/api/alerts/{alert['id']}")["mute"]
    assert mute["muted"] and mute["muted_by"] == "ليلى"
    records = [orjson.loads(m.value) for m in read_topic(stack["broker"].bootstrap, "alert-mutes")]
    assert records[-1]["id"] == alert["id"] and records[-1]["muted_by"] == "ليلى"


def test_muted_alert_is_ended_in_alertmanager_and_not_resent(stack):
    alert_id = stack["alert"]["id"]
    wait_for(lambda: am_alert(stack, alert_id) is None, 30, what="the muted alert to end in Alertmanager")
    # the pusher re-sends firing alerts every second: the muted one must stay away
    # (test_unmute_sends_it_again shows the re-sending is alive)
    for _ in range(5):
        time.sleep(1)
        assert am_alert(stack, alert_id) is None


def test_a_worker_started_later_knows_the_mute(stack):
    """The mute lives in Kafka: a new worker process (its own pipeline topics,
    the shared alerts and alert-mutes topics) shows it and does not push it."""
    alert_id = stack["alert"]["id"]
    topics = {f"RASD_TOPIC_{name}": f"late-{name.lower()}" for name in
              ("POSTS", "DLQ", "TAG_HITS", "PLATFORM_HITS", "TAG_MINUTES", "PLATFORM_MINUTES")}
    late = Worker(stack["broker"].bootstrap, stack["workdir"], name="late", app_id="rasd-late", extra_env={
        **topics, "RASD_ALERTMANAGER_URL": stack["alertmanager"].url,
        "RASD_ALERTMANAGER_RESEND_SECONDS": "1"}).start()
    try:
        view = wait_for(lambda: late.get_json("/api/alerts?status=firing")["items"], 60, what="the late worker's board")
        mine = next(a for a in view if a["id"] == alert_id)
        assert mine["mute"]["muted"] and mine["mute"]["muted_by"] == "ليلى"
        for _ in range(3):
            time.sleep(1)
            assert am_alert(stack, alert_id) is None
    finally:
        late.stop()


def test_unmute_sends_it_again(stack):
    alert_id = stack["alert"]["id"]
    status, body = post_json(stack["worker"].web_url + f"/api/alerts/{alert_id}/unmute", {"by": "omar"})
    assert status == 200 and not body["muted"]
    wait_for(lambda: am_alert(stack, alert_id), 30, what="the unmuted alert back in Alertmanager")


def test_mute_api_rejects_bad_requests(stack):
    url = stack["worker"].web_url + "/api/alerts/"
    alert_id = stack["alert"]["id"]
    assert post_json(url + "no-such-alert/mute", {"minutes": 5})[0] == 404
    assert post_json(url + f"{alert_id}/mute", {"minutes": -1})[0] == 400
    assert post_json(url + f"{alert_id}/mute", {"minutes": 10**9})[0] == 400
    assert post_json(url + f"{alert_id}/explode", {})[0] == 404
    form = urllib.request.Request(url + f"{alert_id}/mute", data=b"minutes=5",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(form, timeout=5)
    assert refused.value.code == 415
