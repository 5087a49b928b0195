"""Watermarks over several input partitions: a partition not heard from yet
holds event time back, so its first records are not late however the
partitions' reads interleave (the worker reads them in no particular order)."""
import math

from detectors.platforms import PlatformShardCounter
from detectors.records import TagHit
from detectors.tags import TagStage
from detectors.windows import Watermark

T0 = 1_463_875_200.0  # a minute boundary


def test_expected_sources_hold_the_watermark_until_heard_from_or_forgotten():
    mark = Watermark(lateness=20.0, sources=[0, 1, 2])
    mark.observe(0, T0 + 300)
    mark.observe(1, T0 + 200)
    assert mark.value() == float("-inf")
    mark.forget(2)  # quiet for long enough (the worker decides)
    assert mark.value() == T0 + 200 - 20.0


def test_advance_to_stops_waiting():
    mark = Watermark(lateness=20.0, sources=[0, 1])
    mark.advance_to(T0 + 600)
    assert mark.value() == T0 + 600 - 20.0


def hit(key: str, source: int, at: float, n: int) -> TagHit:
    return TagHit(key, key, f"p{source}-{n}", f"a{n}", at, "twitter", "#" + key, source=source, offset=n)


def test_a_partition_read_late_is_not_late():
    """Partition 0 is read five minutes of event time ahead of partition 1's first
    record: those records still count, as in a backtest."""
    stage = TagStage(sources=(0, 1))
    for n in range(10):
        stage.on_hit(hit("k", 0, T0 + 30 * n, n))
    stage.advance()
    stage.on_hit(hit("k", 1, T0 + 5, 0))
    stage.advance_to(T0 + 600)
    assert stage.late_hits == 0
    assert dict(stage.states["k"].history.items())[int(T0 // 60)][0] == 3


def test_shard_counts_of_a_partition_read_late_are_not_late():
    shards = PlatformShardCounter(sources=(0, 1))
    for n in range(10):
        shards.on_post("twitter", T0 + 30 * n, f"a{n}", source=0, offset=n)
    shards.advance()
    shards.on_post("twitter", T0 + 5, "b", source=1, offset=0)
    minutes = shards.advance_to(T0 + 600)
    assert shards.late_posts == 0
    assert sum(m.posts for m in minutes if m.minute == T0) == 3


def test_shard_progress_while_a_source_is_awaited_is_nothing_closed_yet():
    # minute_of(-inf) is NaN: reported downstream as null, it crashed the platform agent
    shards = PlatformShardCounter(sources=(0, 1))
    shards.on_post("twitter", T0, "a", source=0, offset=0)
    assert shards.advance() == []
    assert shards.progress() == -math.inf


def test_word_from_a_source_that_sends_a_partition_nothing_moves_it_on():
    """Input partition 1 carries no hit of this tag partition's tags, but says
    how far it has read: the tag partition closes minutes without waiting for
    the input to go idle."""
    stage = TagStage(sources=(0, 1))
    for n in range(10):
        stage.on_hit(hit("k", 0, T0 + 30 * n, n))
    stage.on_hit(hit("k", 0, T0 + 31, 10))  # a second hit, so the tag is tracked from the first minute
    assert stage.advance() == ([], []) and stage.progress() == -math.inf
    stage.on_progress(1, T0 + 280)
    stage.advance()
    # the watermark is source 0's newest (T0 + 270) less the lateness (20 s)
    assert stage.progress() == T0 + 240
    stage.on_hit(hit("k", 1, T0 + 251, 0))
    stage.on_hit(hit("k", 1, T0 + 249, 1))
    assert stage.late_hits == 1


def test_word_from_a_source_that_sends_a_shard_nothing_closes_its_minutes():
    shards = PlatformShardCounter(sources=(0, 1))
    for n in range(10):
        shards.on_post("twitter", T0 + 30 * n, f"a{n}", source=0, offset=n)
    assert shards.advance() == []
    shards.on_progress(1, T0 + 280)
    per_minute: dict[float, int] = {}
    for m in shards.advance():  # one record per shard and minute (the authors spread over shards)
        per_minute[m.minute] = per_minute.get(m.minute, 0) + m.posts
    assert per_minute == {T0: 2, T0 + 60: 2, T0 + 120: 2, T0 + 180: 2}
    assert shards.progress() == T0 + 240
