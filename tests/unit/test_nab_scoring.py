"""NAB scorer (bench/nab.py) on tiny hand-built series."""

import importlib.util
import math
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("nab_bench", Path(__file__).resolve().parents[2] / "bench" / "nab.py")
nab = importlib.util.module_from_spec(_spec)
sys.modules["nab_bench"] = nab  # dataclasses look their module up
_spec.loader.exec_module(nab)

STANDARD = {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0}
N = 100  # probation = floor(0.15 * 100) = 15 rows
T0 = datetime(2015, 3, 1)
TIMES = [T0 + timedelta(minutes=5 * i) for i in range(N)]
WINDOWS = [(TIMES[40], TIMES[49]), (TIMES[70], TIMES[79])]


def score(*alert_rows, cost=STANDARD, windows=WINDOWS):
    alerts = [int(i in alert_rows) for i in range(N)]
    f = nab.score_file(TIMES, alerts, windows, cost)
    return nab.normalized([f], cost["tpWeight"]), f


def test_probation_length_follows_nab():
    assert nab.probation_rows(100) == 15
    assert nab.probation_rows(15903) == 750


def test_perfect_detector_scores_100():
    s, f = score(40, 70)
    assert s == pytest.approx(100.0)
    assert (f.tp, f.fp, f.fn) == (2, 0, 0)


def test_null_detector_scores_0():
    s, f = score()
    assert s == pytest.approx(0.0)
    assert f.fn == 2


def test_detections_in_probation_are_ignored():
    assert score(3)[0] == pytest.approx(0.0)


def test_false_positive_before_any_window_costs_full_fp_weight():
    s, f = score(40, 70, 20)
    assert f.fp == 1
    assert s == pytest.approx(100 * (2 - 0.11 + 2) / 4)


def test_only_first_detection_in_a_window_counts():
    assert score(40, 45, 70)[0] == pytest.approx(score(40, 70)[0])


def test_early_detection_beats_late_detection():
    early, late = score(41)[0], score(48)[0]
    assert 0 < late < early < 50


def test_fp_just_after_window_costs_less_than_far_after():
    near, far = score(40, 50)[0], score(40, 62)[0]
    assert far < near < score(40)[0]


def test_missed_window_weighs_fn_weight():
    low_fn = {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0}
    s, f = score(40, cost=low_fn)
    # raw: 1 (TP) - 2 (missed); null: -4; perfect: 2.
    assert f.score == pytest.approx(-1.0)
    assert s == pytest.approx(100 * 3 / 6)


def test_scaled_sigmoid_matches_nab():
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert nab.scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert nab.scaled_sigmoid(3.0) == -1.0


def test_published_scores_normalise_like_ours():
    windows = {"a": [1, 2], "b": [3]}
    assert nab.published_normalized((-2.0, -1.0), windows, ["a", "b"]) == pytest.approx(0.0)
    assert nab.published_normalized((2.0, 1.0), windows, ["a", "b"]) == pytest.approx(100.0)
    assert nab.published_normalized((0.0, 0.0), windows, ["a", "b"]) == pytest.approx(50.0)


def test_windowed_gaussian_flags_only_extreme_outliers():
    values = [10.0 + (i % 7) for i in range(3000)]
    values[2000] = 1e6
    # (the second row is flagged too: a one-value window has no spread; NAB probation hides it)
    assert [i for i, a in enumerate(nab.windowed_gaussian(values)) if a and i > 10] == [2000]
    assert sum(nab.windowed_gaussian(values, threshold=0.99)) > 1


def test_river_baseline_fires_once_on_a_spike_and_not_on_noise():
    import random

    rng = random.Random(3)
    values = [100 + rng.gauss(0, 5) for _ in range(1500)]
    assert sum(nab.river_gaussian(values)) == 0
    values[1200] = 400
    values[1201] = 420
    alerts = nab.river_gaussian(values)
    assert alerts[1200] == 1 and sum(alerts) == 1  # one detection per episode
