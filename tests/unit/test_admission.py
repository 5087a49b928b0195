"""The tag stage tracks a tag from its second hit (its first is held until
then): admitted tags count exactly what they would have counted tracked from
the first hit, and held hits are bounded."""
from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from detectors.config import DetectorConfig
from detectors.pipeline import Pipeline
from detectors.records import TagHit, TagMinute, hits_of, parse_post
from detectors.tags import TagStage, TagStageConfig
from tests.harness import ORGANIC, scenario_lines


def hit(key: str, i: int, at: float, offset: int = -1) -> TagHit:
    return TagHit(key, key, f"p{i}", f"a{i}", at, "twitter", "#" + key, offset=offset)


def backtest(lines: list[bytes], max_candidates: int) -> tuple[Pipeline, list[dict], list[TagMinute]]:
    """The pipeline after the lines, its alerts and every tag minute its tag
    stage summarised (a tag stage of the same config fed the same hits)."""
    config = DetectorConfig()
    config.tags.max_candidates = max_candidates
    pipe = Pipeline(config)
    alerts = [a.to_json() for line in lines for a in pipe.process_raw(line)] + \
        [a.to_json() for a in pipe.finish()]
    stage = TagStage(config.tags)
    minutes: list[TagMinute] = []
    for line in lines:
        post = parse_post(line)
        for tag_hit in hits_of(post):
            stage.on_hit(tag_hit)
        minutes.extend(stage.advance()[1])
    minutes.extend(stage.advance_to(pipe.end_of_input())[1])
    return pipe, alerts, minutes


def with_rare_tags(lines: list[bytes]) -> list[bytes]:
    """The scenario's posts, some also carrying tags used once, a few times
    within minutes, or a few times hours apart."""
    first = orjson.loads(lines[0])
    # the very first hit is a one-off's: the stage's origin (warm-up) is its time
    out = [orjson.dumps({**first, "id": "first", "text": "#0_اول",
                         "created_at": datetime.fromisoformat(first["created_at"]) - timedelta(seconds=2)})]
    for i, line in enumerate(lines):
        post = orjson.loads(line)
        if i % 7 == 0:
            post["text"] += f" #مرة_{i}"
        if i % 50 == 0:
            post["text"] += f" #مرات_{i // 1000}"
        if i % 997 == 0:
            post["text"] += f" #نادر_{i % 13}"
        out.append(orjson.dumps(post))
    return out


def test_admitted_tags_count_exactly_what_tracking_every_tag_counts():
    lines = with_rare_tags(scenario_lines("organic_emerging", **ORGANIC))
    gated, gated_alerts, gated_minutes = backtest(lines, 100_000)
    full, full_alerts, full_minutes = backtest(lines, 0)
    assert gated_alerts == full_alerts and any(a["kind"] == "emerging" for a in full_alerts)
    assert gated_minutes == full_minutes and len(full_minutes) > 100
    assert gated.tags.origin == full.tags.origin
    one_offs = set(full.tags.states) - set(gated.tags.states)
    assert one_offs and len(gated.tags.states) > 100
    for key in one_offs:  # only tags used once are left out
        assert sum(p for p, _ in full.tags.states[key].history.values()) == 1
    for key, state in gated.tags.states.items():
        other = full.tags.states[key]
        assert state.to_state() == other.to_state(), key


def test_held_hits_are_bounded_and_the_oldest_forgotten():
    stage = TagStage(TagStageConfig(max_candidates=1000))
    for i in range(10_000):
        stage.on_hit(hit(f"junk{i}", i, 100.0 + i * 0.01))
        if i % 100 == 0:
            stage.advance()
    assert stage.held() <= 1000 and not stage.states
    assert stage.forgotten_candidates + stage.held() == 10_000
    stage.on_hit(hit("junk9999", 10_000, 300.0))  # still held: admitted at its second hit
    stage.on_hit(hit("junk0", 10_001, 300.0))  # forgotten: held again
    assert list(stage.states) == ["junk9999"]


def test_a_replayed_first_hit_does_not_admit_its_tag():
    stage = TagStage()
    stage.on_hit(hit("k", 1, 10.0, offset=5))
    stage.on_hit(hit("k", 1, 10.0, offset=5))
    assert "k" not in stage.states and stage.duplicate_hits == 1
    stage.on_hit(hit("k", 2, 11.0, offset=6))
    stage.advance_to(200.0)
    assert stage.states["k"].history.items() == [(0, (2, 2))]


def test_held_hits_expire_with_idle_tags():
    config = TagStageConfig(idle_expiry=3600.0)
    stage = TagStage(config)
    stage.on_hit(hit("once", 1, 10.0))
    stage.advance_to(1800.0)
    assert stage.held() == 1
    stage.on_hit(hit("busy", 2, 3 * 3600.0))
    stage.advance()
    stage.advance_to(3 * 3600.0 + 300)
    assert stage.held() == 1  # "busy" only
