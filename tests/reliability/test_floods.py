"""Floods: a million junk tags keep the tag stage inside its memory cap without
evicting a real trending tag; one account posting 100 000 times is not an
emerging trend.  The in-process flood runs in a fresh process so its peak RSS
is its own; the million-tag run (and the worker-level one) are ``soak``."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from detectors.pipeline import Pipeline
from detectors.records import Post, Tag
from tests.harness import REPO

# stated caps (README): peak RSS of the tag stage under a junk flood
RSS_CAP_MB = {5_000: 200, 50_000: 600}


def run_flood(junk_tags: int, max_tags: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.reliability.flood", str(junk_tags), str(max_tags)],
                         cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def check_flood(result: dict, max_tags: int) -> None:
    assert result["peak_tracked"] <= max_tags
    assert result["evictions"] >= result["junk_tags"] - max_tags
    assert result["real_tracked"], "the real trending tag was evicted"
    assert result["real_posts"] == result["junk_tags"] // 20, "the real tag lost counts"
    assert result["real_fired"]
    assert result["max_rss_mb"] < RSS_CAP_MB[max_tags], result


def test_junk_flood_stays_under_the_cap_and_keeps_the_real_trend():
    check_flood(run_flood(100_000, 5_000), 5_000)


@pytest.mark.soak
def test_million_junk_tags_stay_under_the_cap_and_keep_the_real_trend():
    check_flood(run_flood(1_000_000, 50_000), 50_000)


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
