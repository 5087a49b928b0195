"""CountAnomalyModel / AlertPolicy behaviour on synthetic count series."""

import json
import math
import random

import pytest

from detectors.volume import AlertPolicy, CountAnomalyDetector, CountAnomalyModel, Season, score_series_file

MIN, DAY = 60.0, 86400.0


def poisson(rng, lam):
    if lam > 30:  # normal approximation; exact sampling is slow for large rates
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def run(det, rates, t0=0.0):
    rng = random.Random(1)
    return [det.update(t0 + MIN * i, poisson(rng, lam))[1] for i, lam in enumerate(rates)]


def test_flat_poisson_gives_few_alerts():
    alerts = run(CountAnomalyDetector(CountAnomalyModel(bin_seconds=60)), [20.0] * int(3 * DAY / MIN))
    assert sum(alerts) <= 1


def test_tenfold_step_fires_within_two_bins():
    n = int(2 * DAY / MIN)
    alerts = run(CountAnomalyDetector(CountAnomalyModel(bin_seconds=60)), [20.0] * n + [200.0] * 30)
    assert sum(alerts[n // 2 : n]) == 0
    assert any(alerts[n : n + 2])


def test_brand_new_series_small_count_is_quiet_large_count_fires():
    model, policy = CountAnomalyModel(bin_seconds=60), AlertPolicy()
    assert model.score_one(0.0, 3) < 1.0
    assert model.score_one(0.0, 50) >= policy.threshold
    assert not CountAnomalyDetector(CountAnomalyModel(bin_seconds=60)).update(0.0, 3)[1]
    assert CountAnomalyDetector(CountAnomalyModel(bin_seconds=60)).update(0.0, 50)[1]


def test_daily_pattern_is_learned_not_alerted():
    # 10/min most of the day, 60/min between 18:00 and 20:00 UTC, for 8 days.
    per_day = int(DAY / MIN)
    rates = [60.0 if 18 <= (i % per_day) // 60 < 20 else 10.0 for i in range(8 * per_day)]
    alerts = run(CountAnomalyDetector(CountAnomalyModel(bin_seconds=60)), rates)
    assert any(alerts[:per_day])  # day 1: the evening peak is new, hence alerted
    assert sum(alerts[per_day:]) == 0


def test_freeze_keeps_baseline_through_an_episode():
    n = int(2 * DAY / MIN)
    rates = [20.0] * n + [200.0] * 720  # a 12-hour episode
    det = CountAnomalyDetector(CountAnomalyModel(bin_seconds=60))
    run(det, rates)
    frozen_expectation = det.model.expected(MIN * len(rates))

    unfrozen = CountAnomalyModel(bin_seconds=60)
    rng = random.Random(1)
    for i, lam in enumerate(rates):
        unfrozen.learn_one(MIN * i, poisson(rng, lam))

    assert det.policy.active
    assert frozen_expectation < 26
    assert unfrozen.expected(MIN * len(rates)) > 35  # without freezing the episode poisons the level


def test_state_round_trip_is_json_small_and_exact():
    det = CountAnomalyDetector(CountAnomalyModel(bin_seconds=60))
    run(det, [20.0] * 3000)
    state = json.loads(json.dumps(det.model.to_state()))
    numbers = sum(len(v) if isinstance(v, list) else 1 for v in state.values()) + len(state["params"])
    assert numbers <= 120
    clone = CountAnomalyModel.from_state(state)
    for t, x in ((3000 * MIN, 20), (3001 * MIN, 90), (5000 * MIN, 0)):
        assert clone.score_one(t, x) == det.model.score_one(t, x)
        assert clone.expected(t) == det.model.expected(t)
    clone.learn_one(3000 * MIN, 25)
    det.model.learn_one(3000 * MIN, 25)
    assert clone.to_state() == det.model.to_state()
    policy = AlertPolicy.from_state(json.loads(json.dumps(det.policy.to_state())))
    assert policy.to_state() == det.policy.to_state()


def test_seasonal_profiles_take_memory_only_once_the_season_learns():
    """Most tracked tags live less than an hour: their four profiles stay empty
    (a profile of zeros forecasts the same), and a state written with zeros
    (before the profiles were lazy) comes back empty and forecasts the same."""
    young, zeros = CountAnomalyModel(bin_seconds=60), CountAnomalyModel(bin_seconds=60)
    zeros.season = Season(24, True)
    for i in range(59):
        young.learn_one(MIN * i, 5 + i % 3)
        zeros.learn_one(MIN * i, 5 + i % 3)
    assert young.season is None and young.params is zeros.params  # one parameter set for all
    assert young.score_one(59 * MIN, 40) == zeros.score_one(59 * MIN, 40)
    assert young.expected(59 * MIN) == zeros.expected(59 * MIN)
    restored = CountAnomalyModel.from_state(json.loads(json.dumps(zeros.to_state())))
    assert restored.season is None
    assert restored.to_state() == young.to_state()
    for i in range(59, 3000):  # on into the second day: the profiles learn as before
        young.learn_one(MIN * i, 5 + i % 3)
        zeros.learn_one(MIN * i, 5 + i % 3)
    assert young.season is not None
    assert len(young.season.daily_n) == 24 and sum(young.season.daily_n) > 0 and len(young.season.week_n) == 7
    assert young.to_state() == zeros.to_state()


def test_skipped_bins_count_as_zeros():
    model = CountAnomalyModel(bin_seconds=60)
    for i in range(2000):
        model.learn_one(MIN * i, 30)
    assert model.expected(2000 * MIN) == pytest.approx(30, rel=0.1)
    assert model.expected((2000 + 3 * 1440) * MIN) < 3  # three silent days later


def test_policy_hysteresis_and_min_gap():
    policy = AlertPolicy(threshold=5.0, resolve_threshold=1.0, min_gap_seconds=600.0)
    starts = [policy.update(60.0 * i, s) for i, s in enumerate([6, 3, 6, 0, 6, 0, 0, 0, 0, 0, 0, 0, 6])]
    # 3 >= resolve keeps the episode open; the re-fire at 4 min is within the gap; 12 min is a new episode.
    assert [i for i, s in enumerate(starts) if s] == [0, 12]


def test_score_series_file_writes_nab_format(tmp_path):
    rng = random.Random(3)
    src = tmp_path / "in.csv"
    lines = ["timestamp,value"]
    for i in range(3000):
        h, m = divmod(5 * i, 60)
        day, h = divmod(h, 24)
        x = 400 if i == 2500 else poisson(rng, 30)
        lines.append(f"2015-03-{1 + day:02d} {h:02d}:{m:02d}:00,{x}")
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    score_series_file(src, out)
    rows = out.read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score,alert"
    assert len(rows) == 3001
    parsed = [r.split(",") for r in rows[1:]]
    assert all(0.0 <= float(r[2]) <= 1.0 for r in parsed)
    assert parsed[2500][3] == "1" and float(parsed[2500][2]) > 0.5
    assert sum(int(r[3]) for r in parsed[1000:]) <= 2


def test_spikes_well_below_a_recent_peak_do_not_start_episodes():
    # 5-minute bins of ~20; a 3000 burst on day 0, 300 spikes on days 1-5, 6000 on day 6
    bins_per_day = int(DAY / 300)
    rates = [20.0] * (7 * bins_per_day)
    rates[100] = 3000.0
    for day in range(1, 6):
        rates[day * bins_per_day + 150] = 300.0
    rates[6 * bins_per_day + 200] = 6000.0

    def starts(det):
        rng = random.Random(1)
        return [i for i, lam in enumerate(rates) if det.update(300.0 * i, poisson(rng, lam))[1]]

    assert starts(CountAnomalyDetector(CountAnomalyModel(bin_seconds=300))) == [100, 6 * bins_per_day + 200]
    ungated = starts(CountAnomalyDetector(CountAnomalyModel(bin_seconds=300), peak_margin=math.inf))
    assert len(ungated) >= 4  # the 300 spikes do score high: only the running peak calls them small


def test_running_peak_sinks_by_peak_decay_per_day():
    model = CountAnomalyModel(bin_seconds=300, peak_decay=1.0)
    model.learn_one(0.0, 1000)
    assert model.novelty(300.0, 1000) == pytest.approx(1.0 / 288)
    assert model.novelty(DAY, 1000) == pytest.approx(1.0, abs=0.01)
    assert CountAnomalyModel().novelty(0.0, 5) == math.inf
