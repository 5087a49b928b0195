"""Scenario generator: determinism, contract, background realism, and that every
injected event really is in the stream its label describes."""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from scenarios import PLATFORMS, PRESETS, Scenario, orthographic_variant, write_jsonl
from scenarios.generator import parse_iso_utc as parse
from scenarios.presets import (
    HOSTILE_TAG,
    MORNING_TAG,
    ORGANIC_SURGE_TAG,
    WATCHED_TAG,
    counter_campaign,
    demo,
    fragmentation,
    ingest_gap,
    morning_periodic,
    organic_emerging,
    platform_outage,
    quiet_day,
)

RATE = 15.0  # posts/min: small enough for speed, large enough for stable statistics
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
IRAQ = timezone(timedelta(hours=3))
LABEL_KINDS = {"emerging", "periodic", "counter_campaign", "outage", "ingest_stall",
               "fragmentation"}
_DIACRITICS = re.compile("[\u064b-\u0652\u0640_]")


def loose_key(tag: str) -> str:
    """Spelling-insensitive tag key: the edits orthographic noise makes, undone."""
    key = _DIACRITICS.sub("", tag.lstrip("#"))
    for variant, letter in (("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ى", "ي"), ("ة", "ه")):
        key = key.replace(variant, letter)
    return key


def hashtags(post: dict) -> list[str]:
    return [word for word in post["text"].split() if word.startswith("#")]


def when(post: dict) -> datetime:
    return parse(post["created_at"])


def label_of(scenario: Scenario, kind: str, subject: str | None = None) -> dict:
    matches = [label for label in scenario.labels
               if label["kind"] == kind and subject in (None, label["subject"])]
    assert len(matches) == 1, (kind, subject, scenario.labels)
    return matches[0]


@pytest.fixture(scope="module")
def quiet():
    scenario = quiet_day(seed=11, rate=RATE)
    return scenario, list(scenario.posts)


@pytest.fixture(scope="module")
def campaign():
    scenario = counter_campaign(seed=12, rate=RATE, accounts=200)
    return scenario, list(scenario.posts)


@pytest.fixture(scope="module")
def outage():
    scenario = platform_outage(seed=13, rate=RATE)
    return scenario, list(scenario.posts)


@pytest.fixture(scope="module")
def gap():
    scenario = ingest_gap(seed=14, rate=RATE)
    return scenario, list(scenario.posts)


@pytest.fixture(scope="module")
def summit():
    scenario = fragmentation(seed=15, rate=RATE)
    return scenario, list(scenario.posts)


@pytest.fixture(scope="module")
def emerging():
    scenario = organic_emerging(seed=16, rate=RATE)
    return scenario, list(scenario.posts)


@pytest.fixture(scope="module")
def mornings():
    scenario = morning_periodic(seed=17, rate=RATE)
    return scenario, list(scenario.posts)


ALL_FIXTURES = ("quiet", "campaign", "outage", "gap", "summit", "emerging", "mornings")


# --- determinism and contract ---------------------------------------------------------

def test_same_seed_same_stream_and_labels():
    first, second = counter_campaign(seed=5, rate=5), counter_campaign(seed=5, rate=5)
    assert list(first.posts) == list(second.posts)
    assert first.labels == second.labels


def test_rereading_posts_replays_identically(gap):
    scenario, posts = gap
    assert list(scenario.posts) == posts


def test_different_seed_different_stream():
    assert list(ingest_gap(seed=1, rate=5).posts) != list(ingest_gap(seed=2, rate=5).posts)


def test_generation_uses_no_global_random():
    random.seed(0)
    first = list(ingest_gap(seed=3, rate=5).posts)
    random.seed(99)
    assert list(ingest_gap(seed=3, rate=5).posts) == first


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
def test_posts_sorted_with_unique_ids(fixture, request):
    _, posts = request.getfixturevalue(fixture)
    times = [post["created_at"] for post in posts]
    assert times == sorted(times)
    assert len({post["id"] for post in posts}) == len(posts)


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
def test_post_contract(fixture, request):
    scenario, posts = request.getfixturevalue(fixture)
    required = {"id", "platform", "author", "created_at", "text", "lang"}
    seen_ids: set[str] = set()
    for post in posts:
        assert required <= post.keys() <= required | {"author_created_at", "repost_of"}
        assert re.fullmatch(r"(tw|fb|ig|tg)-\d{6,}", post["id"])
        assert post["platform"] in PLATFORMS
        assert re.fullmatch(r"u\d+", post["author"])
        assert ISO_UTC.match(post["created_at"])
        assert scenario.start <= when(post) < scenario.end
        assert post["lang"] in {"ar", "en"} and post["text"].strip()
        if "author_created_at" in post:
            assert ISO_UTC.match(post["author_created_at"])
            assert post["author_created_at"] < post["created_at"]
        if "repost_of" in post and fixture != "gap":  # a stall may have eaten the original
            assert post["repost_of"] in seen_ids
        seen_ids.add(post["id"])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_labelled_scenarios(name):
    scenario = PRESETS[name](seed=1, rate=2)
    assert isinstance(scenario, Scenario) and scenario.name == name
    for label in scenario.labels:
        assert label["kind"] in LABEL_KINDS
        assert ISO_UTC.match(label["onset"]) and ISO_UTC.match(label["end"])
        assert scenario.start <= parse(label["onset"]) < parse(label["end"]) <= scenario.end
    assert (name == "quiet_day") == (not scenario.labels)


def test_event_presets_have_warmup_before_onset():
    for name, preset in PRESETS.items():
        scenario = preset(seed=1, rate=2)
        onsets = [parse(label["onset"]) for label in scenario.labels]
        if onsets:
            assert min(onsets) - scenario.start >= timedelta(hours=2), name
    scenario = platform_outage(seed=1, rate=2)
    assert parse(scenario.labels[0]["onset"]) - scenario.start >= timedelta(hours=24)


def test_write_jsonl_round_trip(gap, tmp_path):
    scenario, posts = gap
    path = tmp_path / "posts.jsonl"
    assert write_jsonl(scenario, path) == len(posts)
    raw = path.read_bytes()
    assert "الفلوجة".encode() in raw or "العراق".encode() in raw  # UTF-8, not \u escapes
    assert [orjson.loads(line) for line in raw.splitlines()] == posts


# --- background realism -----------------------------------------------------------------

def test_diurnal_rhythm_in_iraq_local_time(quiet):
    _, posts = quiet
    by_local_hour = Counter(when(post).astimezone(IRAQ).hour for post in posts)
    night = sum(by_local_hour[hour] for hour in (3, 4, 5)) / 3
    evening = sum(by_local_hour[hour] for hour in (19, 20, 21, 22)) / 4
    assert night / evening < 0.35
    assert len(posts) == pytest.approx(RATE * 24 * 60, rel=0.1)


def test_platform_and_language_mix(quiet):
    _, posts = quiet
    platforms = Counter(post["platform"] for post in posts)
    assert set(platforms) == set(PLATFORMS)
    assert platforms.most_common(1)[0][0] == "facebook"
    english = sum(post["lang"] == "en" for post in posts) / len(posts)
    assert 0.02 < english < 0.15
    assert all("author_created_at" not in post for post in posts if post["platform"] == "telegram")


def test_hashtag_and_repost_shares(quiet):
    _, posts = quiet
    originals = [post for post in posts if "repost_of" not in post]
    without_tag = sum(not hashtags(post) for post in originals) / len(originals)
    assert 0.3 <= without_tag <= 0.5
    assert 0.05 < 1 - len(originals) / len(posts) < 0.2


def test_hashtag_popularity_is_heavy_tailed(quiet):
    _, posts = quiet
    counts = Counter(tag for post in posts for tag in hashtags(post))
    ranked = [count for _, count in counts.most_common()]
    assert counts.most_common(1)[0][0] == "#العراق"
    assert ranked[0] > 5 * ranked[20] and len(ranked) > 200


def test_authors_heavy_tailed_and_mostly_old(quiet):
    scenario, posts = quiet
    per_author = Counter(post["author"] for post in posts)
    top = sum(count for _, count in per_author.most_common(len(per_author) // 100))
    assert top / len(posts) > 0.1
    ages = {post["author"]: (scenario.start - parse(post["author_created_at"])).days
            for post in posts if "author_created_at" in post}
    assert statistics.median(ages.values()) > 365
    assert 0 < sum(age < 60 for age in ages.values()) / len(ages) < 0.1


def test_orthographic_noise_is_present_but_rare(quiet):
    _, posts = quiet
    head = {loose_key(tag): tag for tag in ("#العراق", "#كرة_القدم", "#الطقس", "#اخبار_العراق",
                                            "#المنتخب_العراقي", "#الامتحانات_الوزارية")}
    uses = [tag for post in posts for tag in hashtags(post) if loose_key(tag) in head]
    variants = sum(tag != head[loose_key(tag)] for tag in uses)
    assert 0.01 < variants / len(uses) < 0.12


def test_background_texts_are_varied(quiet):
    _, posts = quiet
    texts = [post["text"] for post in posts if "repost_of" not in post]
    assert len(set(texts)) / len(texts) > 0.97
    reposts = {post["id"]: post for post in posts}
    for post in posts:
        if "repost_of" in post:
            assert post["text"] == reposts[post["repost_of"]]["text"]
            assert post["author"] != reposts[post["repost_of"]]["author"]


@pytest.mark.parametrize("tag", ["#قمة_بغداد_استقرار_وتنمية", "#الأخبار_العاجلة", "#الفلوجة_تتحرر",
                                 "#مستشفى_الكرادة"])
def test_orthographic_variant_changes_only_spelling(tag):
    rng = random.Random(4)
    variants = {orthographic_variant(tag, rng) for _ in range(200)}
    assert tag not in variants and len(variants) > 10
    assert {loose_key(variant) for variant in variants} == {loose_key(tag)}


# --- events ---------------------------------------------------------------------------

def test_organic_emerging_follows_s_curve_from_onset(emerging):
    scenario, posts = emerging
    label = label_of(scenario, "emerging", WATCHED_TAG)
    onset = parse(label["onset"])
    uses = [post for post in posts if any(loose_key(tag) == loose_key(WATCHED_TAG)
                                          for tag in hashtags(post))]
    assert all(when(post) >= onset for post in uses)
    assert all(when(post) < parse(label["end"]) for post in uses)
    first_half_hour = sum(when(post) < onset + timedelta(minutes=30) for post in uses)
    second_hour = sum(onset + timedelta(hours=1) <= when(post) < onset + timedelta(hours=2)
                      for post in uses)
    assert second_hour > 4 * max(first_half_hour, 1)
    originals = [post for post in uses if "repost_of" not in post]
    authors = {post["author"] for post in originals}
    assert len(authors) > 0.6 * len(originals) and len(authors) > 200
    ages = [(onset - parse(post["author_created_at"])).days
            for post in originals if "author_created_at" in post]
    assert min(ages) >= 180
    assert len({post["text"] for post in originals}) / len(originals) > 0.9
    spelt = Counter(tag for post in uses for tag in hashtags(post)
                    if loose_key(tag) == loose_key(WATCHED_TAG))
    assert 0 < 1 - spelt[WATCHED_TAG] / sum(spelt.values()) < 0.15


def test_morning_tag_only_in_morning_windows(mornings):
    scenario, posts = mornings
    label = label_of(scenario, "periodic", MORNING_TAG)
    windows = [(parse(begin), parse(end)) for begin, end in label["windows"]]
    assert len(windows) == 3
    uses = [post for post in posts if any(loose_key(tag) == loose_key(MORNING_TAG)
                                          for tag in hashtags(post))]
    per_window = Counter()
    for post in uses:
        local = when(post).astimezone(IRAQ)
        assert 6 <= local.hour < 9
        per_window[next(i for i, (begin, end) in enumerate(windows)
                        if begin <= when(post) < end)] += 1
    assert all(per_window[i] > 50 for i in range(3))
    assert parse(label["emerging_allowed_until"]) == windows[0][1]


def test_counter_campaign_accounts_are_young_and_disjoint(campaign):
    scenario, posts = campaign
    label = label_of(scenario, "counter_campaign", HOSTILE_TAG)
    onset = parse(label["onset"])
    accounts = set(label["accounts"])
    assert len(accounts) == 200 and label["target"] == WATCHED_TAG
    hostile = [post for post in posts if HOSTILE_TAG in hashtags(post)]
    assert {post["author"] for post in hostile} == accounts
    assert all(onset <= when(post) < parse(label["end"]) for post in hostile)
    for post in posts:
        if post["author"] in accounts:
            assert timedelta(0) < onset - parse(post["author_created_at"]) < timedelta(days=30)
    watched_organic = {post["author"] for post in posts
                       if WATCHED_TAG in hashtags(post) and HOSTILE_TAG not in hashtags(post)}
    assert len(watched_organic) > 200
    assert not watched_organic & accounts
    co_occurring = sum(WATCHED_TAG in hashtags(post) for post in hostile) / len(hostile)
    assert co_occurring > 0.5


def test_counter_campaign_bursts_templates_and_rings(campaign):
    scenario, posts = campaign
    label = label_of(scenario, "counter_campaign", HOSTILE_TAG)
    accounts = set(label["accounts"])
    by_id = {post["id"]: post for post in posts}
    originals = [post for post in posts if post["author"] in accounts and "repost_of" not in post]
    # Synchronized: each burst puts a large share of the accounts within seconds.
    for burst in map(parse, label["bursts"]):
        in_burst = {post["author"] for post in originals
                    if burst <= when(post) <= burst + timedelta(seconds=25)}
        assert len(in_burst) > 0.35 * len(accounts)
    # Templated: every text is a small edit of a labelled template, with a labelled tag block.
    template_words = [set(template.split()) for template in label["templates"]]
    sequences = [" ".join(sequence) for sequence in label["hashtag_sequences"]]
    for post in originals:
        words = set(post["text"].split())
        assert max(len(words & template) / len(template) for template in template_words) >= 0.7
        assert any(post["text"].endswith(sequence) for sequence in sequences)
    # Repost rings: campaign reposts stay inside the reposting account's ring.
    ring_of = {account: i for i, ring in enumerate(label["repost_rings"]) for account in ring}
    ring_reposts = [post for post in posts if post["author"] in accounts and "repost_of" in post]
    assert len(ring_reposts) > len(originals) / 2
    for post in ring_reposts:
        assert ring_of[by_id[post["repost_of"]]["author"]] == ring_of[post["author"]]


def test_simultaneous_organic_surge_is_not_a_campaign(campaign):
    scenario, posts = campaign
    surge = label_of(scenario, "emerging", ORGANIC_SURGE_TAG)
    campaign_label = label_of(scenario, "counter_campaign")
    assert surge["onset"] == campaign_label["onset"]
    surge_authors = {post["author"] for post in posts if ORGANIC_SURGE_TAG in hashtags(post)}
    assert len(surge_authors) > 100 and not surge_authors & set(campaign_label["accounts"])


def test_outage_collapses_facebook_and_instagram(outage):
    scenario, posts = outage
    labels = [label for label in scenario.labels if label["kind"] == "outage"]
    assert sorted(label["subject"] for label in labels) == ["facebook", "instagram"]
    onset, end = parse(labels[0]["onset"]), parse(labels[0]["end"])
    assert end - onset == timedelta(hours=3)
    day = timedelta(days=1)

    def volume(platforms, begin, finish):
        return sum(post["platform"] in platforms and begin <= when(post) < finish
                   for post in posts)

    for down in ("facebook", "instagram"):
        # Same local hours the day before: removes the diurnal effect.
        assert volume({down}, onset, end) < 0.1 * volume({down}, onset - day, end - day)
        assert volume({down}, onset, end) > 0  # collapsed, not vanished
    assert volume({"twitter", "telegram"}, onset, end) > 1.1 * volume(
        {"twitter", "telegram"}, onset - day, end - day)
    hour = timedelta(hours=1)
    assert volume({"facebook"}, end, end + hour) > 0.5 * volume({"facebook"}, end - day, end - day + hour)


def test_ingest_gap_is_silent_on_every_platform(gap):
    scenario, posts = gap
    label = label_of(scenario, "ingest_stall")
    onset, end = parse(label["onset"]), parse(label["end"])
    assert end - onset == timedelta(minutes=12)
    assert not [post for post in posts if onset <= when(post) < end]
    minute = timedelta(minutes=1)
    assert any(onset - 2 * minute <= when(post) < onset for post in posts)
    assert any(end <= when(post) < end + 2 * minute for post in posts)
    # The platforms kept posting: their ids jump across the stall.
    before = max(int(post["id"][3:]) for post in posts if when(post) < onset)
    after = min(int(post["id"][3:]) for post in posts if when(post) >= end)
    assert after - before > 12 * RATE * 0.15  # 06:00 local: near the daily trough


def test_fragmentation_official_share_below_30_percent(summit):
    scenario, posts = summit
    labels = [label for label in scenario.labels if label["kind"] == "fragmentation"]
    assert {label["subject"] for label in labels} == {"#قمةبغداد_استقراروتنمية",
                                                      "#مؤتمر_برلمانات_دول_جوار_العراق"}
    assert "#قمة_بغداد" in labels[0]["variants"] + labels[1]["variants"]
    all_group_keys = {loose_key(tag) for label in labels
                      for tag in [label["subject"], *label["variants"]]}
    for label in labels:
        group_keys = {loose_key(tag) for tag in [label["subject"], *label["variants"]]}
        uses = [tag for post in posts for tag in hashtags(post) if loose_key(tag) in group_keys]
        assert len(uses) > 200
        official_share = uses.count(label["subject"]) / len(uses)
        assert official_share < 0.3
        assert official_share == pytest.approx(label["official_share"], abs=0.05)
        # The media offices are the ones spreading the variants.
        offices = set(label["media_offices"])
        office_uses = Counter()
        for post in posts:
            if post["author"] in offices:
                office_uses[post["author"]] += sum(loose_key(tag) in group_keys
                                                   for tag in hashtags(post))
        assert set(office_uses) == offices and min(office_uses.values()) >= 5
        office_tags = [tag for post in posts if post["author"] in offices
                       for tag in hashtags(post) if loose_key(tag) in group_keys]
        assert office_tags.count(label["subject"]) / len(office_tags) < 0.15
    onset = parse(labels[0]["onset"])
    assert all(when(post) >= onset for post in posts
               if any(loose_key(tag) in all_group_keys for tag in hashtags(post)))


def test_demo_is_compact_realistic_mix_and_fast():
    began = time.perf_counter()
    scenario = demo()
    posts = list(scenario.posts)
    elapsed = time.perf_counter() - began
    assert 60_000 < len(posts) <= 150_000
    assert timedelta(hours=6) <= scenario.end - scenario.start <= timedelta(hours=8)
    kinds = Counter(label["kind"] for label in scenario.labels)
    assert kinds == {"emerging": 1, "counter_campaign": 1, "outage": 2, "fragmentation": 2}
    first_onset = min(parse(label["onset"]) for label in scenario.labels)
    assert first_onset - scenario.start >= timedelta(hours=2)
    assert elapsed < 20, f"demo took {elapsed:.1f}s"
