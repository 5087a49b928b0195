"""Floods: a million junk tags keep the tag stage inside its memory cap without
evicting a real trending tag; one account posting 100 000 times is not an
emerging trend.  Junk used once is never tracked (its first hit is held, the
oldest forgotten beyond ``max_candidates``); junk used twice is tracked and
evicted beyond ``max_tags``.  The in-process flood runs in a fresh process so
its peak RSS is its own; the worker-level flood goes through the broker into a
real worker process.  The million-tag runs are ``soak``."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from detectors.pipeline import Pipeline
from detectors.records import Post, Tag
from detectors.config import DetectorConfig
from detectors.text import canonical_key
from tests.harness import REPO, alert_keys, backtest_alerts, produce, read_alerts, wait_for
from tests.reliability.common import expected_history, reference, wait_for_history
from tests.reliability.flood import REAL, spam_flood_lines

# stated caps (README): peak RSS of the tag stage under a junk flood, by tag cap
RSS_CAP_MB = {5_000: 150, 50_000: 400}
# stated caps (README): peak RSS of a whole worker process under a junk flood (the
# million-tag flood's peak is hits in transit, not tag state: README, memory cap)
WORKER_RSS_CAP_MB = {2_000: 300, 50_000: 1200}


def run_flood(junk_tags: int, max_tags: int, uses: int, max_candidates: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.reliability.flood",
                          *map(str, (junk_tags, max_tags, uses, max_candidates))],
                         cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def check_flood(result: dict, max_tags: int) -> None:
    assert result["peak_tracked"] <= max_tags
    assert result["peak_held"] <= result["max_candidates"]
    if result["uses"] == 1:  # no junk tracked: its first hits held, then forgotten
        assert result["peak_tracked"] == 1
        assert result["forgotten"] >= result["junk_tags"] - result["max_candidates"]
    else:
        assert result["evictions"] >= result["junk_tags"] - max_tags
    assert result["real_tracked"], "the real trending tag was evicted"
    assert result["real_posts"] == result["real_expected"], "the real tag lost counts"
    assert result["real_fired"]
    assert result["max_rss_mb"] < RSS_CAP_MB[max_tags], result


@pytest.mark.parametrize("uses", [1, 2])
def test_junk_flood_stays_under_the_cap_and_keeps_the_real_trend(uses):
    check_flood(run_flood(100_000, 5_000, uses, 20_000), 5_000)


@pytest.mark.soak
@pytest.mark.parametrize("uses", [1, 2])
def test_million_junk_tags_stay_under_the_cap_and_keep_the_real_trend(uses):
    check_flood(run_flood(1_000_000, 50_000, uses, 100_000), 50_000)


def test_one_account_posting_100_000_times_is_not_an_emerging_trend():
    start = datetime(2016, 5, 22, 10, tzinfo=timezone.utc).timestamp()
    pipe = Pipeline()
    alerts = []
    for i in range(30 * 60):  # a quiet baseline: a few people use the tag
        alerts += pipe.process_post(Post(f"b{i}", "twitter", f"user{i % 7}", start + i * 2, "#spam", (Tag("spam", "spam"),)))
    flood_start = start + 3600
    for i in range(100_000):  # then one account, 100 000 posts in ten minutes
        alerts += pipe.process_post(Post(f"s{i}", "twitter", "spammer", flood_start + i * 0.006, "#spam",
                                         (Tag("spam", "spam"),)))
    alerts += pipe.finish()
    assert pipe.stats["posts"] == 30 * 60 + 100_000
    assert [a for a in alerts if a.kind == "emerging"] == []


def worker_flood(broker, start_worker, workdir, junk_tags: int, max_tags: int, uses: int, timeout: float) -> None:
    """A spam flood of ``junk_tags`` distinct junk tags (16 per post, each post
    ``uses`` times) with a real trending tag inside it, through the broker into
    one worker whose tag cap is ``max_tags``: its peak RSS stays under the
    stated cap, it never tracks more than ``max_tags`` tags (junk used once:
    none), and the real tag keeps every count and its alert."""
    config_path = workdir / "flood.toml"
    config_path.write_text(f"[tags]\nmax_tags = {max_tags}\n", encoding="utf-8")
    lines = spam_flood_lines(junk_tags, uses=uses)
    junk_posts = sum(1 for line in lines if b"#junk" in line)
    # the backtest of the same stream without the junk posts (the first one kept:
    # the stream's start is the same): what the real tag counts with no flood at all
    real_only = lines[:1] + [line for line in lines if b"#" + REAL.encode() in line]
    key = canonical_key(REAL)
    pipe = reference(real_only, config=DetectorConfig.load(config_path))
    expected = [a for a in backtest_alerts(real_only, config_path) if a["subject"] == "#" + REAL]
    assert any(a["status"] == "firing" for a in expected), "the backtest must see the real trend"

    worker = start_worker(extra_env={"RASD_DETECTOR_CONFIG": str(config_path)})
    produce(broker.bootstrap, lines)
    tracked = []

    def flood_taken():
        try:
            tracked.append(worker.metric("rasd_tracked_tags"))
            if uses > 1:
                return worker.metric("rasd_tag_evictions_total") >= junk_tags - max_tags
            return worker.metric("rasd_posts_ingested_total") == len(lines) and tracked[-1] >= 1
        except TimeoutError:  # a worker deep in a flood may answer slowly: ask again
            return False
    wait_for(flood_taken, timeout, interval=2, what="the junk tags to be taken (and evicted, if tracked)")
    # ingest is done first; the tag stage (and its changelog writes) finish the flood later
    wait_for_history([worker], key, expected_history(pipe, key), timeout)
    want = sorted(set(alert_keys(expected)))
    wait_for(lambda: sorted(set(alert_keys([a for a in read_alerts(broker.bootstrap)
                                            if a["subject"] == "#" + REAL]))) == want,
             60, interval=3, what="the real tag's alerts to equal the backtest's")
    assert max(tracked) <= (max_tags if uses > 1 else 1)
    peak = worker.peak_rss_mb()
    print(f"worker flood: {junk_tags:,} junk tags in {junk_posts:,} posts, cap {max_tags:,}: "
          f"peak RSS {peak:.0f} MiB, {worker.metric('rasd_held_tag_hits'):.0f} first hits held")
    assert peak < WORKER_RSS_CAP_MB[max_tags], f"peak RSS {peak:.0f} MiB"


@pytest.mark.broker
@pytest.mark.parametrize("uses", [1, 2])
def test_junk_flood_through_a_worker_stays_under_the_cap_and_keeps_the_real_trend(broker, start_worker, workdir,
                                                                                   uses):
    worker_flood(broker, start_worker, workdir, 20_000, 2_000, uses, timeout=420)


@pytest.mark.broker
@pytest.mark.soak
@pytest.mark.timeout(4 * 3600)
def test_million_junk_tags_through_a_worker_stay_under_the_cap(broker, start_worker, workdir):
    worker_flood(broker, start_worker, workdir, 1_000_000, 50_000, 1, timeout=4 * 3600)
