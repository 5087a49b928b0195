"""The hot path's shortcuts (issue 9) give exactly what the plain code gives."""
from __future__ import annotations

import gc
import hashlib
import math
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.records import InvalidPost, Post, Tag, hits_of, parse_post, parse_time
from detectors.windows import KMV, TopK, floor_to, minute_of, stable_hash


def reference_time(value: str) -> float:
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


@given(st.datetimes(min_value=datetime(2006, 1, 1), max_value=datetime(2100, 1, 1)))
def test_fast_time_parse_matches_fromisoformat(moment):
    value = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_time(value, "t") == reference_time(value)


def test_read_times_are_remembered_within_a_bound():
    from detectors import records

    first = parse_time("2016-05-22T10:00:05Z", "t")
    assert parse_time("2016-05-22T10:00:05Z", "t") == first == reference_time("2016-05-22T10:00:05Z")
    # times in another form than UTC to the second are read through datetime, and remembered
    bound = records._datetime_seconds.cache_info().maxsize
    for second in range(2 * bound):
        value = f"2016-05-22T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}+03:00"
        assert parse_time(value, "t") == reference_time(value)
        assert records._datetime_seconds.cache_info().currsize <= bound
    with pytest.raises(InvalidPost):  # a refused time is refused again, not remembered
        parse_time("2016-02-30T10:00:00Z", "t")
    with pytest.raises(InvalidPost):
        parse_time("2016-02-30T10:00:00Z", "t")


# strings of the fast path's length and shape, with characters that break it
_NEAR_UTC = st.lists(st.sampled_from("0123456789٥Z T:-+./"), min_size=20, max_size=20).map("".join)
_UTC_SHAPED = st.builds(lambda moment, noise, at: (lambda v: v[:at] + noise + v[at + 1:])(
    moment.strftime("%Y-%m-%dT%H:%M:%SZ")), st.datetimes(min_value=datetime(1, 1, 1)),
    st.sampled_from("0123456789٥Z T:-+./x"), st.integers(0, 19))


def lenient_reference_time(value: str) -> float:
    """What parse_time read before its fast path: fromisoformat, then with blanks
    stripped and a "z" of either case made an offset."""
    try:
        return reference_time(value)
    except ValueError:
        return reference_time(value.strip())


@given(st.one_of(_NEAR_UTC, _UTC_SHAPED))
def test_fast_time_parse_accepts_and_reads_exactly_what_fromisoformat_does(value):
    try:
        expected = lenient_reference_time(value)
    except ValueError:
        with pytest.raises(InvalidPost):
            parse_time(value, "t")
    else:
        assert parse_time(value, "t") == expected


@pytest.mark.parametrize("value", ["2016-05-22T23:59:60Z", "2016-02-30T10:00:00Z", "2016-05-22T25:00:00Z",
                                   "2016/05/22T10:00:00Z", "2016-05-22T10:00:5xZ", "2016-05-22T10:00:٥٥Z"])
def test_fast_time_parse_rejects_what_fromisoformat_rejects(value):
    with pytest.raises(InvalidPost) as caught:
        parse_time(value, "created_at")
    assert caught.value.reason == "invalid_time"


@pytest.mark.parametrize("value", ["2016-05-22 10:00:05Z", "2016-05-22T10:00:05z", "2016-05-22T10:00:05+03:00",
                                   "2016-05-22T10:00:05.250Z", " 2016-05-22T10:00:05Z", "2016-05-22T10:00:05"])
def test_other_iso_shapes_still_parse(value):
    assert parse_time(value, "t") == reference_time(value.strip())


def test_utf8_and_json_errors_keep_their_reasons():
    good = {"id": "1", "platform": "x", "author": "a", "created_at": "2020-01-01T00:00:00Z", "text": "#t"}
    with pytest.raises(InvalidPost) as caught:
        parse_post(orjson.dumps(good)[:-1] + b'\xff"}')
    assert caught.value.reason == "invalid_utf8"
    with pytest.raises(InvalidPost) as caught:
        parse_post(b'{"id": "1",')
    assert caught.value.reason == "invalid_json"
    assert parse_post(orjson.dumps(good)) == parse_post(orjson.dumps(good).decode())


def test_platform_names_are_validated_every_time():
    post = {"id": "1", "platform": " Twitter ", "author": "a", "created_at": "2020-01-01T00:00:00Z", "text": ""}
    assert parse_post(orjson.dumps(post)).platform == "twitter"
    assert parse_post(orjson.dumps(post)).platform == "twitter"  # cached
    for _ in range(2):
        with pytest.raises(InvalidPost):
            parse_post(orjson.dumps({**post, "platform": "twit ter"}))


@given(st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=3), min_size=1, max_size=14, unique=True))
def test_hits_name_every_other_tag_capped_at_ten(keys):
    post = Post("p", "twitter", "a", 0.0, "t", tuple(Tag(k.upper(), k) for k in keys))
    hits = hits_of(post, 3, 7)
    assert [h.key for h in hits] == keys
    for hit in hits:
        assert hit.cotags == tuple(k for k in keys if k != hit.key)[:10]
        assert (hit.surface, hit.source, hit.offset, hit.post_id) == (hit.key.upper(), 3, 7, "p")


@given(st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=2), st.integers(1, 5), max_size=6))
def test_top_one_is_the_first_of_the_full_ranking(counts):
    top = TopK(16, dict(counts))
    assert top.top(1) == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:1]


@given(st.one_of(st.floats(allow_nan=True), st.floats(0, 4e9), st.integers(0, 4_000_000_000).map(float),
                 st.integers(-10**17, 10**17).map(float)), st.sampled_from([5, 60]))
def test_slots_start_where_float_modulo_puts_them(ts, step):
    expected = ts - ts % step
    assert floor_to(ts, step) == expected or (math.isnan(expected) and math.isnan(floor_to(ts, step)))
    if step == 60:
        assert minute_of(ts) == expected or math.isnan(expected)


def test_stable_hash_is_blake2b_cached_or_not():
    expected = int.from_bytes(hashlib.blake2b("u42".encode(), digest_size=8).digest(), "big")
    assert stable_hash("u42") == stable_hash("u42") == expected


def test_backtest_collects_garbage_in_batches_and_restores_the_setting():
    from detectors.pipeline import run_lines

    before = gc.get_threshold()
    during = []
    lines = [b'{"id": "1"}', b'{"id":"2","platform":"x","author":"a","created_at":"2020-01-01T00:00:00Z","text":"#t"}']
    alerts = list(run_lines(lines, on_reject=lambda *_: during.append(gc.get_threshold())))
    assert alerts == [] and during[0][0] > before[0] and during[0][1:] == before[1:]
    assert gc.get_threshold() == before


@given(st.integers(1, 70), st.lists(st.lists(st.integers(0, 300), max_size=100), max_size=5))
def test_adding_hashes_at_once_keeps_what_adding_them_one_by_one_keeps(k, batches):
    one_by_one, at_once = KMV(k), KMV(k)
    for batch in batches:
        for h in batch:
            one_by_one.add_hash(h)
        at_once.add_hashes(batch)
        assert at_once.hashes == one_by_one.hashes


@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))))
def test_near_duplicate_clusters_are_scipys_connected_components(graph):
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from detectors.campaign import _components

    n, edges = graph
    left, right = [a for a, _ in edges], [b for _, b in edges]
    expected = connected_components(coo_matrix((np.ones(len(edges)), (left, right)), shape=(n, n)),
                                    directed=False)[1]
    labels = _components(n, left, right)
    assert all((labels[i] == labels[j]) == (expected[i] == expected[j]) for i in range(n) for j in range(n))


def test_a_tag_state_encodes_as_its_plain_state_while_its_history_changes():
    from detectors.records import TagHit
    from detectors.tags import HISTORY_MINUTES, TagStage

    stage = TagStage()
    checked = 0
    # past a day, so the oldest minutes also leave the history
    for minute in range(HISTORY_MINUTES + 30):
        for i in range(2 + minute % 3):
            at = minute * 60.0 + 10 * i
            stage.on_hit(TagHit("k", "K", f"p{minute}-{i}", f"a{i}", at, "twitter", "#K", offset=minute * 10 + i))
        stage.advance()
        for state in stage.states.values():
            assert state.to_json() == orjson.dumps(state.to_state())
            checked += 1
    assert checked > HISTORY_MINUTES and len(stage.states["k"].history) == HISTORY_MINUTES


def test_tracked_tags_share_what_they_can():
    """A tracked tag costs memory in every worker (~50 000 of them): a surface
    written as its key is stored as the key's string, the display is built
    from the leading surface, and the volume models share one parameter set."""
    from detectors.records import TagHit
    from detectors.tags import TagStage

    stage = TagStage()
    for i, (key, surface) in enumerate([("bghdad", "bghdad"), ("bghdad", "Bghdad"), ("bghdad", "bghdad"),
                                        ("mosul", "Mosul"), ("mosul", "Mosul")]):
        # a new string each time, as decoding a hit from Kafka gives
        stage.on_hit(TagHit("".join(key), "".join(surface), f"p{i}", f"a{i}", 10.0 * i, "twitter", "", offset=i))
    stage.advance_to(600.0)
    baghdad, mosul = stage.states["bghdad"], stage.states["mosul"]
    assert [s for s in baghdad.surfaces.counts if s is baghdad.key] == ["bghdad"]
    assert (baghdad.display, mosul.display) == ("#bghdad", "#Mosul")
    assert baghdad.emerging.model.params is mosul.emerging.model.params
    stage.on_hit(TagHit("mosul", "mosul", "p9", "a9", 610.0, "twitter", "", offset=9))
    stage.on_hit(TagHit("mosul", "mosul", "p10", "a10", 611.0, "twitter", "", offset=10))
    stage.on_hit(TagHit("mosul", "mosul", "p11", "a11", 612.0, "twitter", "", offset=11))
    stage.advance_to(700.0)
    assert mosul.display == "#mosul"  # the leader changed


def test_an_encoded_tag_state_keeps_only_what_its_history_takes():
    """A worker encodes every tracked tag at write-back and keeps its history's
    encoding: 50 000 tags kept 4 KiB each when that was orjson's own buffer."""
    import tracemalloc

    from detectors.records import TagHit
    from detectors.tags import TagStage

    stage = TagStage()
    for i in range(2):  # each tag twice, so that it is tracked
        for n in range(2000):
            stage.on_hit(TagHit(f"k{n}", f"K{n}", f"p{n}-{i}", f"a{i}", 30.0 * i + n / 100, "twitter", f"#K{n}",
                                offset=2000 * i + n))
    stage.advance_to(600.0)
    states = list(stage.states.values())
    assert len(states) == 2000 and all(state.history for state in states)
    tracemalloc.start()
    try:
        for state in states:
            state.to_json()
        kept = tracemalloc.get_traced_memory()[0] / len(states)
    finally:
        tracemalloc.stop()
    assert kept < 512, f"{kept:.0f} bytes kept per state"


def test_a_message_of_records_is_taken_as_its_records_one_by_one():
    """``on_records`` (the worker's agents) against the loop it replaced: the
    same hits, posts and progress items in the same order leave the same states
    and close the same minutes, whatever the records' partition and sources."""
    from detectors.platforms import PlatformShardCounter
    from detectors.records import TagHit
    from detectors.tags import TagStage
    from scenarios.presets import PRESETS

    posts = [parse_post(orjson.dumps(post)) for post in PRESETS["counter_campaign"](seed=3, rate=2).posts]
    sources = (0, 1, 2)
    messages: list[tuple[int, list, list]] = []  # (partition, hits, platform posts), progress items inside
    for start in range(0, len(posts), 97):
        hit_records: list = []
        post_records: list = []
        newest: dict[int, float] = {}
        for offset, post in enumerate(posts[start:start + 97], start):
            source = offset % len(sources)
            hit_records += [orjson.loads(hit.to_wire()) for hit in hits_of(post, source, offset)]
            post_records.append([post.platform, post.created_at, post.author, source, offset])
            newest[source] = max(newest.get(source, -math.inf), post.created_at)
        progress = [[source, at] for source, at in newest.items()]
        messages.append((start % 2, hit_records + progress, post_records + progress))
    assert sum(len(p) for _, _, p in messages) > len(posts)  # progress items are in

    by_message, one_by_one = TagStage(sources=sources), TagStage(sources=sources)
    counters = [PlatformShardCounter(20.0, 2, sources=sources) for _ in range(2)]
    for partition, hit_records, post_records in messages:
        newest_hit, heard = by_message.on_records(hit_records, partition)
        expected_newest, expected_heard = -math.inf, set()
        for fields in hit_records:
            if len(fields) == 2:
                one_by_one.on_progress(fields[0], fields[1], partition)
                expected_heard.add(fields[0])
            else:
                hit = TagHit.from_fields(fields)
                one_by_one.on_hit(hit, partition)
                expected_newest = max(expected_newest, hit.created_at)
                expected_heard.add(hit.source)
        assert (newest_hit, heard) == (expected_newest, expected_heard)
        assert by_message.advance(partition) == one_by_one.advance(partition)

        assert counters[0].on_records(post_records, partition) == {fields[-2] if len(fields) == 5 else fields[0]
                                                                    for fields in post_records}
        for fields in post_records:
            if len(fields) == 2:
                counters[1].on_progress(fields[0], fields[1], partition)
            else:
                counters[1].on_post(*fields, partition=partition)
        assert counters[0].advance(partition) == counters[1].advance(partition)
    assert by_message.states.keys() == one_by_one.states.keys() and by_message.states
    assert all(by_message.states[k].to_json() == one_by_one.states[k].to_json() for k in by_message.states)
    assert {k: s.to_state() for k, s in counters[0].states.items()} == \
        {k: s.to_state() for k, s in counters[1].states.items()}
