"""Fragmentation of official tags (issue 6) on the labelled preset, through the
in-process Pipeline (the backtest), and the variant groups it leaves behind."""

from __future__ import annotations

import orjson

from detectors.config import DetectorConfig
from detectors.pipeline import Pipeline
from scenarios.generator import parse_iso_utc
from scenarios.presets import PRESETS

OFFICIAL_TAG = "#قمةبغداد_استقراروتنمية"


def test_official_tag_under_30_percent_of_its_group_fires_fragmentation_naming_it():
    scenario = PRESETS["fragmentation"](warmup_hours=1, event_hours=2, rate=60)
    (label,) = [lb for lb in scenario.labels if lb["subject"] == OFFICIAL_TAG]
    pipe = Pipeline(DetectorConfig.from_dict({"official": [OFFICIAL_TAG]}))
    alerts = [a for post in scenario.posts for a in pipe.process_raw(orjson.dumps(post))]
    alerts += pipe.finish()

    fragmentation = [a for a in alerts if a.kind == "fragmentation"]
    assert [(a.subject, a.status) for a in fragmentation][:1] == [(OFFICIAL_TAG, "firing")]
    assert len([a for a in fragmentation if a.status == "firing"]) == 1
    fired = fragmentation[0]
    onset, end = parse_iso_utc(label["onset"]).timestamp(), parse_iso_utc(label["end"]).timestamp()
    assert onset < fired.at < end and fired.observed < 0.3
    assert OFFICIAL_TAG in fired.summary
    # evidence: every variant with its count, the accounts driving the rivals
    variants = fired.evidence["variants"]
    assert sum(v["posts"] for v in variants) == fired.evidence["group_posts"]
    assert [v["tag"] for v in variants if v["official"]] == [OFFICIAL_TAG]
    assert set(label["variants"]) <= set(fired.related) <= {v["tag"] for v in variants}
    top = [a["author"] for a in fired.evidence["top_accounts"]]
    assert top[0] in label["media_offices"]

    # what `rasd variants TAG --backtest FILE` shows once the run is over
    group = pipe.summaries.variants.group_of(OFFICIAL_TAG)
    assert group["anchor"] == OFFICIAL_TAG and group["official_share"] < 0.3
    assert set(label["variants"]) <= {v["tag"] for v in group["variants"]}
    assert pipe.summaries.variants.group_of(label["variants"][0])["anchor"] == OFFICIAL_TAG
