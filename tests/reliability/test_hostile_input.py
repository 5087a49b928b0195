"""Hostile input never crashes anything: each message is either counted under
the right tags or dead-lettered with a reason.  Property tests drive the
parser and the in-process pipeline; the corpus also goes through a worker."""
from __future__ import annotations

import time
import unicodedata
from datetime import datetime, timezone
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.pipeline import Pipeline
from detectors.records import DLQ_REASONS, InvalidPost, TagHit, hits_of, parse_post
from tests.harness import produce, read_topic, scenario_lines, wait_for
from tests.hostile.corpus import CORPUS

NOW = datetime(2016, 5, 22, 12, tzinfo=timezone.utc).timestamp()

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
nasty_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
tagged_text = st.lists(st.one_of(nasty_text, nasty_text.map(lambda t: "#" + t)), max_size=8).map(" ".join)
times = st.one_of(st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat()),
                  st.datetimes(min_value=datetime(2016, 5, 22, 10), max_value=datetime(2016, 5, 22, 12))
                  .map(lambda d: d.isoformat() + "Z"), json_values)
posts = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=20), json_values),
     "platform": st.one_of(st.sampled_from(["twitter", "Facebook", "x"]), json_values),
     "author": st.one_of(nasty_text, json_values),
     "created_at": times,
     "text": st.one_of(tagged_text, json_values)},
    optional={"hashtags": st.one_of(st.lists(nasty_text, max_size=70), json_values),
              "author_created_at": times, "lang": json_values, "repost_of": json_values})


def outcome(raw: bytes):
    """A post, or the DLQ reason; anything else raised is a crash."""
    try:
        return parse_post(raw, NOW)
    except InvalidPost as exc:
        assert exc.reason in DLQ_REASONS
        return exc.reason


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_are_rejected_with_a_reason(raw):
    outcome(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(posts)
def test_any_post_shaped_object_is_counted_or_rejected(data):
    result = outcome(orjson.dumps(data))
    if isinstance(result, str):
        return
    keys = [t.key for t in result.tags]
    assert len(keys) == len(set(keys)) <= 64
    for key in keys:  # keys are safe to store, route and show
        assert key and not any(unicodedata.category(c) in ("Cc", "Cf", "Zs") for c in key), key
    pipe = Pipeline()
    pipe.process_post(result)
    pipe.finish()
    assert pipe.stats["hits"] == len(keys)
    assert sum(p for s in pipe.tags.states.values() for p, _ in s.history.values()) + pipe.tags.held() == len(keys)
    for hit in hits_of(result, 3, 17):
        assert TagHit.from_wire(hit.to_wire()) == hit


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_post_is_counted_or_rejected_as_expected(name):
    raw, expected = CORPUS[name]
    result = outcome(raw)
    assert (result if isinstance(result, str) else {t.key for t in result.tags}) == expected


@pytest.mark.broker
def test_worker_survives_the_corpus_and_accounts_for_every_message(broker, start_worker):
    good = scenario_lines("quiet_day", rate=20.0, hours=0.25)
    rejected = {name: reason for name, (_, reason) in CORPUS.items() if isinstance(reason, str)}
    counted = {name: keys for name, (_, keys) in CORPUS.items() if not isinstance(keys, str)}
    worker = start_worker(extra_env={"RASD_SASL_PASSWORD": "s3cret-never-shown"})
    markup = CORPUS["html and script"][0]  # twice: a tag is tracked from its second use
    produce(broker.bootstrap, [raw for raw, _ in CORPUS.values()] + [markup] + good)

    dead = wait_for(lambda: (lambda r: r if len(r) >= len(rejected) else None)(read_topic(broker.bootstrap, "posts-dlq")),
                    120, what="every rejected corpus message in posts-dlq")
    by_value = {m.value: dict(m.headers) for m in dead}
    assert len(dead) == len(rejected)
    for name, reason in rejected.items():
        headers = by_value[CORPUS[name][0]]  # the original bytes, untouched
        assert headers["rasd-reason"].decode() == reason, name
        assert headers["rasd-detail"]
    wait_for(lambda: worker.metric("rasd_posts_ingested_total") == len(good) + len(counted) + 1, 60,
             what="every valid post counted")
    assert worker.get_json("/healthz")["ok"]
    assert worker.metric("rasd_dlq_messages_total", reason="processing_error") == 0

    # a tag from a post full of markup is served as JSON data, never as a page
    def xss_tag():
        try:
            return worker.get_json("/tags/xss")
        except OSError:
            return None
    assert wait_for(xss_tag, 30, what="the #xss tag to be tracked")["display"] == "#xss"
    import urllib.request
    with urllib.request.urlopen(worker.web_url + "/tags/" + quote("xss")) as response:
        assert response.headers["Content-Type"].startswith("application/json")
    # the SASL password from the environment is in neither the log nor the metrics
    assert "s3cret-never-shown" not in worker.metrics()
    assert "s3cret-never-shown" not in worker.log_path.read_text(errors="replace")
