"""EmergingDetector logic: new-tag rule, distinct authors, freeze, severity,
resolve hysteresis, re-fire after resolution, state round-trip."""

import json

import pytest

from detectors.emerging import EmergingConfig, EmergingDetector, EmergingState
from detectors.records import TagHit
from detectors.tags import TagStage

MIN, HOUR = 60.0, 3600.0
T0 = 1_463_875_200.0  # 2016-05-22T00:00Z, a minute boundary


def warm(det: EmergingDetector, authors_per_minute: float = 5.0, hours: float = 6.0) -> EmergingState:
    """A tag seen since the stage started, with a steady baseline."""
    state = det.new_state("k", first_seen=T0, stage_origin=T0)
    for i in range(int(hours * 60)):
        assert det.close_minute(state, T0 + MIN * i, authors_per_minute + i % 3 - 1, "#k") is None
    return state


def run(det, state, start, counts):
    """Close consecutive minutes from ``start``; (minute index, alert) for each alert."""
    out = []
    for i, authors in enumerate(counts):
        alert = det.close_minute(state, start + MIN * i, authors, "#k")
        if alert is not None:
            out.append((i, alert))
    return out


def young_tag(det, authors: list[str], every: float = 10.0, born: float = T0 + 2 * HOUR):
    """A tag born after the warm-up; returns the alerts of its hits."""
    state = det.new_state("new", first_seen=born, stage_origin=T0)
    alerts = [det.check_new_tag(state, a, born + every * i, "#new") for i, a in enumerate(authors)]
    return state, [a for a in alerts if a is not None]


def test_new_tag_with_many_authors_fires_once_with_evidence_of_its_birth():
    det = EmergingDetector()
    state, alerts = young_tag(det, [f"u{i}" for i in range(40)], every=15.0)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.status == "firing" and alert.kind == "emerging"
    assert alert.observed >= det.config.new_tag_min_authors
    assert alert.started_at == T0 + 2 * HOUR  # the tag's birth minute
    assert alert.at <= T0 + 2 * HOUR + 5 * MIN  # ~20 authors a minute: fires within minutes
    assert alert.expected < 1.0 and alert.score > det.config.fire_score
    assert state.young_authors is None  # a tag is new only once


@pytest.mark.parametrize("accounts", [1, 3])
def test_new_tag_of_few_accounts_never_fires(accounts):
    det = EmergingDetector()
    _, alerts = young_tag(det, [f"u{i % accounts}" for i in range(3000)], every=1.0)
    assert alerts == []


def test_tags_present_at_cold_start_are_not_judged_new():
    det = EmergingDetector()
    state = det.new_state("old", first_seen=T0 + 10 * MIN, stage_origin=T0)
    assert not state.judge_as_new
    assert all(det.check_new_tag(state, f"u{i}", T0 + 10 * MIN + i, "#old") is None for i in range(50))


def test_a_tag_born_rising_late_in_a_minute_fires_on_its_first_full_minute():
    # before the warm-up (the new-tag rule is off) the per-minute model alone
    # judges it: its birth minute (34 authors in its last 11 s) was learnt and
    # the next minute's 180 authors scored 3.3
    det = EmergingDetector()
    state = det.new_state("k", first_seen=T0 + 49, stage_origin=T0)
    assert det.close_minute(state, T0, 34, "#k") is None
    alert = det.close_minute(state, T0 + MIN, 180, "#k")
    assert alert is not None and alert.status == "firing"


def hits(key, authors, start, every=0.01):
    return [TagHit(key, key, f"{key}-{i}", a, start + every * i, "x", f"#{key}")
            for i, a in enumerate(authors)]


def stage_alerts(hit_list, until):
    stage = TagStage()
    alerts = []
    for h in hit_list:
        stage.on_hit(h)
        alerts += stage.advance()[0]
    alerts += stage.advance_to(until)[0]
    return stage, alerts


def test_warm_up_goes_on_after_a_recovery_early_in_the_stream():
    """A worker recovering its tables (a rebalance, a restart) early in a stream
    keeps the stage's warm-up: a tag first seen then is not judged new."""
    before, _ = stage_alerts(hits("old", [f"u{i}" for i in range(20)], T0 + 5 * MIN, every=60.0), T0 + 30 * MIN)
    stage = TagStage(states=before.states)  # a new process, its table recovered
    stage.rebuild_pending()
    assert stage.origin == T0 + 5 * MIN
    for h in hits("crowd", [f"c{i}" for i in range(60)], T0 + 40 * MIN, every=5.0):
        stage.on_hit(h)
    alerts = stage.advance_to(T0 + 50 * MIN)[0]
    assert not stage.states["crowd"].emerging.judge_as_new
    assert [a for a in alerts if a.key == "crowd"] == []


def test_one_account_posting_100000_times_with_a_new_tag_does_not_fire():
    background = hits("bg", [f"b{i % 50}" for i in range(200)], T0, every=60.0)  # warms the stage up
    flood = hits("flood", ["bot"] * 100_000, T0 + 2 * HOUR, every=0.006)  # 10 minutes of one account
    stage, alerts = stage_alerts(sorted(background + flood, key=lambda h: h.created_at), T0 + 4 * HOUR)
    assert [a for a in alerts if a.key == "flood"] == []
    assert max(pa[0] for pa in stage.states["flood"].history.values()) > 5000  # the posts were counted


def test_three_accounts_and_many_accounts_through_the_tag_stage():
    background = hits("bg", [f"b{i % 50}" for i in range(200)], T0, every=60.0)
    three = hits("three", [f"t{i % 3}" for i in range(3000)], T0 + 2 * HOUR, every=0.2)
    crowd = hits("crowd", [f"c{i}" for i in range(3000)], T0 + 2 * HOUR, every=0.2)
    _, alerts = stage_alerts(sorted(background + three + crowd, key=lambda h: h.created_at), T0 + 4 * HOUR)
    assert [a.key for a in alerts if a.status == "firing"] == ["crowd"]


def test_surge_fires_with_severity_from_score():
    det = EmergingDetector()
    state = warm(det)
    (i, alert), = [x for x in run(det, state, T0 + 6 * HOUR, [5, 5, 400]) if x[1].status == "firing"]
    assert i == 2 and alert.started_at == T0 + 6 * HOUR + 2 * MIN
    assert alert.score >= det.config.critical_score and alert.severity == "critical"
    assert alert.observed == 400 and alert.expected < 10

    det = EmergingDetector(EmergingConfig(critical_score=1000.0))
    state = warm(det)
    (_, alert), = run(det, state, T0 + 6 * HOUR, [5, 5, 400])
    assert alert.severity == "warning"


def test_a_crowd_below_min_authors_does_not_fire_whatever_the_score():
    det = EmergingDetector()
    state = warm(det, authors_per_minute=0.0)
    assert run(det, state, T0 + 6 * HOUR, [det.config.min_authors - 1] * 3) == []


def test_bursty_surge_is_one_episode_resolved_once_after_sustained_calm():
    det = EmergingDetector()
    state = warm(det)
    burst = [150, 120, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]  # a burst, then 10 calm minutes: repeated
    counts = burst * 6 + [5] * 40
    alerts = run(det, state, T0 + 6 * HOUR, counts)
    assert [a.status for _, a in alerts] == ["firing", "resolved"]
    (fire_i, fire), (resolve_i, resolved) = alerts
    assert fire.id == resolved.id
    last_burst = len(burst) * 5 + 1
    assert resolve_i == last_burst + det.config.resolve_after


def test_model_is_frozen_during_an_episode():
    # a tag with two days of history: every hour of its daily profile has been seen
    expected_after = {}
    for freeze_weight in (0.1, 1.0):
        det = EmergingDetector(EmergingConfig(model={"freeze_weight": freeze_weight}))
        state = warm(det, hours=48)
        before = state.model.expected(T0 + 48 * HOUR)
        run(det, state, T0 + 48 * HOUR, [100] * 180)  # three hours at 20x the baseline
        assert state.episode.firing
        expected_after[freeze_weight] = state.model.expected(T0 + 51 * HOUR) / before
    assert expected_after[0.1] < 1.1  # the default: the episode does not become the baseline
    assert expected_after[1.0] > 1.2  # what it would do unfrozen


def test_refire_soon_after_resolution_needs_a_real_new_surge():
    det = EmergingDetector()
    state = warm(det)
    first = run(det, state, T0 + 6 * HOUR, [100, 100] + [5] * 30)
    assert [a.status for _, a in first] == ["firing", "resolved"]
    # the same surge again, an hour after the first: not a new episode
    assert run(det, state, T0 + 7 * HOUR, [100, 100] + [5] * 30) == []
    # a surge far above the first one's peak is
    again = run(det, state, T0 + 7.5 * HOUR, [600])
    assert [a.status for _, a in again] == ["firing"]
    ids = [a.id for _, a in first]
    assert again[0][1].id not in ids and again[0][1].started_at > first[-1][1].at - MIN


def test_refire_after_the_grace_period_is_a_new_episode():
    det = EmergingDetector()
    state = warm(det)
    first = run(det, state, T0 + 6 * HOUR, [100, 100] + [5] * 30)
    later = run(det, state, T0 + 6 * HOUR + (32 + det.config.refire_within) * MIN, [100])
    assert [a.status for _, a in later] == ["firing"] and later[0][1].id != first[0][1].id


def test_new_tag_rule_never_refires_an_episode_id():
    det = EmergingDetector()
    born = T0 + 2 * HOUR
    state = det.new_state("new", first_seen=born, stage_origin=T0)
    (_, fired), = run(det, state, born, [60])  # the minute check fires first
    assert state.young_authors is None
    resolved = run(det, state, born + MIN, [0] * 30)
    assert [a.status for _, a in resolved] == ["resolved"]
    assert all(det.check_new_tag(state, f"u{i}", born + 32 * MIN + i, "#new") is None for i in range(100))
    assert resolved[0][1].id == fired.id


def test_partial_minute_fires_early_and_only_once():
    det = EmergingDetector()
    state = warm(det)
    minute = T0 + 6 * HOUR
    early = [det.check_partial(state, minute, n, minute + n / 10, "#k") for n in range(1, 200)]
    fired = [a for a in early if a is not None]
    assert len(fired) == 1 and fired[0].observed < 200
    assert det.close_minute(state, minute, 199, "#k") is None  # already firing: no second alert


def test_state_round_trip_is_json_and_exact():
    det = EmergingDetector()
    state = warm(det)
    run(det, state, T0 + 6 * HOUR, [100, 100] + [5] * 30)  # an episode came and went
    clone = EmergingState.from_state(json.loads(json.dumps(state.to_state())))
    assert clone.to_state() == state.to_state()
    a = run(det, state, T0 + 7 * HOUR, [100, 100, 900, 5])
    b = run(det, clone, T0 + 7 * HOUR, [100, 100, 900, 5])
    assert a
    assert [(i, x.to_json()) for i, x in a] == [(i, x.to_json()) for i, x in b]
    young, _ = young_tag(det, ["a", "b", "c"])
    assert EmergingState.from_state(json.loads(json.dumps(young.to_state()))).to_state() == young.to_state()
