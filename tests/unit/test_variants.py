"""Variant grouping and the fragmentation alert (issue 6)."""
from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter, defaultdict

import orjson
import pytest

from detectors.records import TagMinute, parse_time
from detectors.text import canonical_key, extract_hashtags
from detectors import variants
from detectors.variants import VariantConfig, VariantGrouper
from detectors.windows import KMV, minute_of

SUMMIT = ["#قمة_بغداد", "#قمةبغداد_استقراروتنمية", "#قمة_بغداد_استقرار_وتنمية",
          "#قمةبغداد_استقراروبناء"]
CONFERENCE = ["#برلمانات_دول_جوار_العراق", "#مؤتمر_برلمانات_دول_جوار_العراق",
              "#مؤتمر_رؤساء_برلمانات_دول_جوار_العراق"]
# ة/ه, tatweel, missing underscores, أ/ا and إ/ا spellings of the seed's tags
SUMMIT_SPELLINGS = ["#قمه_بغداد", "#قمـة_بغداد", "#قمةبغداد", "#قمة_بغداد_إستقرار_وتنمية"]
CONFERENCE_SPELLINGS = ["#برلماناتدولجوارالعراق", "#مؤتمر_برلمانات_دول_جوار_العراق_"]
UNRELATED = ["#بغداد", "#بغداد_تنتخب", "#امن_بغداد", "#قمة_العشرين", "#مطار_بغداد_الدولي",
             "#العراق", "#كأس_العراق", "#انتخابات_العراق"]
OFFICIAL = "#قمةبغداد_استقراروتنمية"
T0 = 1_463_900_000.0 - 1_463_900_000.0 % 60


def minute_at(i: int) -> float:
    return T0 + 60.0 * i


def sketch(authors) -> list[int]:
    s = KMV(k=64)
    for a in authors:
        s.add(a)
    return s.hashes


def tag_minute(minute: float, surfaces: dict[str, int], authors: dict[str, int] | None = None) -> TagMinute:
    """One key's minute; ``surfaces`` are the spellings (with #) used and their counts."""
    keys = {canonical_key(s) for s in surfaces}
    assert len(keys) == 1, surfaces
    posts = sum(surfaces.values())
    authors = authors or {f"{next(iter(surfaces))}-{i}": 1 for i in range(posts)}
    return TagMinute(
        key=keys.pop(), display=max(surfaces, key=surfaces.get), minute=minute, posts=posts,
        authors=len(authors), expected=0.0, score=0.0, surging=False, firing=False,
        surfaces=[(s.lstrip("#"), n) for s, n in surfaces.items()],
        top_authors=sorted(authors.items(), key=lambda kv: -kv[1])[:10],
        author_hashes=sketch(authors))


def feed_tags(grouper: VariantGrouper, volumes: dict[str, int], minute: float = T0) -> list:
    by_key: dict[str, dict[str, int]] = defaultdict(dict)
    for tag, posts in volumes.items():
        by_key[canonical_key(tag)][tag] = posts
    return grouper.on_minute(minute, [tag_minute(minute, s) for s in by_key.values()])


def members(group: dict) -> set[str]:
    return {v["tag"] for v in group["variants"] if v["posts"] > 0}


# --- grouping ---------------------------------------------------------------------

@pytest.mark.parametrize("biggest", SUMMIT + CONFERENCE + UNRELATED)
def test_seed_tags_form_exactly_the_two_natural_groups(biggest):
    # The biggest tag anchors first; whichever it is, the groups must come out the same.
    tags = SUMMIT + CONFERENCE + SUMMIT_SPELLINGS + CONFERENCE_SPELLINGS + UNRELATED
    grouper = VariantGrouper()
    feed_tags(grouper, {tag: 50 if tag == biggest else 3 + i for i, tag in enumerate(tags)})

    found = [members(g) for g in grouper.groups()]
    assert sorted(found, key=len) == [set(CONFERENCE + CONFERENCE_SPELLINGS),
                                      set(SUMMIT + SUMMIT_SPELLINGS)]
    for tag in UNRELATED:
        assert members(grouper.group_of(tag)) == {tag}
    assert members(grouper.group_of("قمهبغداد")) == set(SUMMIT + SUMMIT_SPELLINGS)


def test_official_tag_anchors_its_group_and_reports_shares():
    grouper = VariantGrouper([OFFICIAL])
    feed_tags(grouper, {OFFICIAL: 4, "#قمة_بغداد_استقرار_وتنمية": 6, "#قمة_بغداد": 10,
                        "#قمةبغداد_استقراروبناء": 5, "#امن_بغداد": 40})
    group = grouper.group_of(OFFICIAL)
    assert group["anchor"] == OFFICIAL and group["official"] == [OFFICIAL]
    assert group["posts"] == 25 and group["official_share"] == pytest.approx(4 / 25)
    shares = {v["tag"]: v["share"] for v in group["variants"]}
    assert shares == pytest.approx({OFFICIAL: 0.16, "#قمة_بغداد_استقرار_وتنمية": 0.24,
                                    "#قمة_بغداد": 0.4, "#قمةبغداد_استقراروبناء": 0.2})
    assert grouper.group_of("#غير_موجود") is None


def test_a_group_does_not_grow_through_a_weak_link():
    # A ~ B and B ~ C (each contained in the other), but A and C share nothing:
    # single linkage would put all three together.
    a, b, c = "#قمة_بغداد", "#قمة_بغداد_الطاقة_المتجددة", "#الطاقة_المتجددة"
    grouper = VariantGrouper()
    feed_tags(grouper, {a: 30, b: 10, c: 20})
    assert members(grouper.group_of(a)) == {a, b}
    assert members(grouper.group_of(c)) == {c}


def test_a_phrase_of_generic_words_does_not_swallow_tags():
    rng = random.Random(6)
    letters = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"
    words = {"".join(rng.choice(letters) for _ in range(5)) for _ in range(40)}
    tags = {f"#{w}_بغداد_العراق": 3 for w in sorted(words)[:30]}
    grouper = VariantGrouper()
    feed_tags(grouper, {"#بغداد_العراق": 40, **tags})
    assert grouper.groups() == []


def test_a_typo_in_a_long_key_joins_but_digits_and_short_keys_do_not():
    grouper = VariantGrouper()
    feed_tags(grouper, {"#مهرجانالمربدالشعري": 10, "#مهرجانالمرابدالشعري": 4,
                        "#انتخابات2021": 10, "#انتخابات2022": 4,
                        "#امن_بغداد": 10, "#ابن_بغداد": 4})
    assert [members(g) for g in grouper.groups()] == [{"#مهرجانالمربدالشعري", "#مهرجانالمرابدالشعري"}]


def test_shared_authors_lift_a_borderline_pair_but_never_link_alone():
    # Sharing "قمه بغداد" with the 4-word tag is a borderline structural match.
    a, b, unrelated = "#قمة_بغداد_التنمية_المستدامة", "#قمة_بغداد_الاعمار_والسلام", "#مطار_النجف"
    same = {f"acct{i}": 1 for i in range(20)}
    apart = VariantGrouper()
    apart.on_minute(T0, [tag_minute(T0, {a: 20}), tag_minute(T0, {b: 20}),
                         tag_minute(T0, {unrelated: 20}, same)])
    assert apart.groups() == []
    together = VariantGrouper()
    together.on_minute(T0, [tag_minute(T0, {a: 20}, same), tag_minute(T0, {b: 20}, same),
                            tag_minute(T0, {unrelated: 20}, same)])
    assert [members(g) for g in together.groups()] == [{a, b}]


# --- fragmentation ------------------------------------------------------------------

def summit_minute(minute: float, official: int, variants: int) -> list[TagMinute]:
    """``official`` uses of the official spelling; ``variants`` spread over three rivals,
    one of them the official's own key written with underscores."""
    return [
        tag_minute(minute, {OFFICIAL: official, "#قمة_بغداد_استقرار_وتنمية": variants // 3}),
        tag_minute(minute, {"#قمة_بغداد": variants // 3}, {"office1": 4, "office2": variants // 3 - 4}),
        tag_minute(minute, {"#قمةبغداد_استقراروبناء": variants - 2 * (variants // 3)},
                   {"office3": 5, **{f"p{i}": 1 for i in range(variants - 2 * (variants // 3) - 5)}}),
        tag_minute(minute, {"#امن_بغداد": 30}),
    ]


def run(grouper: VariantGrouper, minutes: range, official: int, variants: int) -> list:
    alerts = []
    for i in minutes:
        alerts += grouper.on_minute(minute_at(i), summit_minute(minute_at(i), official, variants))
    return alerts


def test_low_official_share_fires_once_then_resolves_when_share_recovers():
    grouper = VariantGrouper([OFFICIAL])
    fired = run(grouper, range(20), official=5, variants=21)  # 5 / 26 ≈ 19 %
    assert [(a.kind, a.status) for a in fired] == [("fragmentation", "firing")]
    alert = fired[0]
    assert alert.subject == OFFICIAL and alert.key == canonical_key(OFFICIAL)
    assert alert.observed == pytest.approx(5 / 26, abs=0.01) and alert.expected == 0.4
    assert alert.at == minute_at(9) and alert.started_at == minute_at(0)
    assert set(alert.related) == {"#قمة_بغداد", "#قمة_بغداد_استقرار_وتنمية", "#قمةبغداد_استقراروبناء"}
    assert OFFICIAL in alert.summary and "19%" in alert.summary and "#قمة_بغداد" in alert.summary
    evidence = orjson.loads(orjson.dumps(alert.to_json()))["evidence"]
    assert evidence["window_minutes"] == 30 and evidence["group_posts"] == 260
    assert {v["tag"] for v in evidence["variants"]} == set(alert.related) | {OFFICIAL}
    accounts = [a["author"] for a in evidence["top_accounts"]]
    assert accounts == ["office3", "office1", "office2", "p0", "p1"]
    assert evidence["top_accounts"][0] == {"author": "office3", "posts": 50,
                                           "tags": ["#قمةبغداد_استقراروبناء"]}

    recovered = run(grouper, range(20, 80), official=60, variants=9)  # 87 %
    assert [a.status for a in recovered] == ["resolved"]
    assert recovered[0].id == alert.id and "recovered" in recovered[0].summary


def test_alert_resolves_when_the_group_goes_quiet():
    grouper = VariantGrouper([OFFICIAL])
    assert len(run(grouper, range(15), official=3, variants=21)) == 1
    quiet = [a for i in range(15, 60) for a in grouper.on_minute(minute_at(i), [])]
    assert [a.status for a in quiet] == ["resolved"] and "quiet" in quiet[0].summary


def test_a_dominant_official_tag_fires_nothing():
    grouper = VariantGrouper([OFFICIAL])
    assert run(grouper, range(90), official=21, variants=9) == []  # 70 %


def test_a_short_dip_below_threshold_does_not_fire():
    grouper = VariantGrouper([OFFICIAL], VariantConfig(window_minutes=5))
    alerts = run(grouper, range(10), official=21, variants=9)
    alerts += run(grouper, range(10, 16), official=2, variants=24)  # 6 minutes < sustain 10
    alerts += run(grouper, range(16, 40), official=21, variants=9)
    assert alerts == []


def test_state_is_bounded_under_junk_tags():
    rng = random.Random(20_000)
    letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    grouper = VariantGrouper([OFFICIAL], VariantConfig(max_tags=500))
    alerts, seen = [], set()
    for i in range(20):
        junk = ["#" + "_".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 8)))
                               for _ in range(rng.randint(1, 3))) for _ in range(1000)]
        seen.update(canonical_key(t) for t in junk)
        minute = minute_at(i)
        alerts += grouper.on_minute(minute, summit_minute(minute, 5, 21)
                                    + [tag_minute(minute, {t: 1}) for t in junk])
        assert len(grouper._tags) <= 500
        assert len(grouper._df) <= 500 * 3 and len(grouper._pieces) <= 500
        assert sum(map(len, grouper._grams.values())) <= sum(max(1, len(k) - 3) for k in grouper._tags)
    assert len(seen) > 19_000
    assert [a.subject for a in alerts] == [OFFICIAL]  # the real group survives eviction
    for i in range(20, 60):  # everything but the official expires with the window
        grouper.on_minute(minute_at(i), [])
    assert list(grouper._tags) == [canonical_key(OFFICIAL)]


@pytest.mark.parametrize("seed", [1, 2])
def test_group_of_is_the_group_a_full_pass_finds(seed):
    # group_of works from the tag's neighbourhood only; it must agree with the
    # full star-grouping pass for every key, among many overlapping spellings.
    rng = random.Random(seed)
    words = ["قمة", "بغداد", "استقرار", "تنمية", "العراق", "برلمانات", "دول", "جوار", "مؤتمر", "امن",
             "كأس", "انتخابات", "الفلوجة", "تتحرر", "دعم", "الحشد"]
    tags = {"#" + rng.choice(["_", ""]).join(rng.sample(words, rng.randint(2, 4))): rng.randint(1, 40)
            for _ in range(60)}
    for official_only in (False, True):
        grouper = VariantGrouper([OFFICIAL] if official_only else [])
        seeds = SUMMIT + SUMMIT_SPELLINGS + CONFERENCE + CONFERENCE_SPELLINGS + UNRELATED
        feed_tags(grouper, {**tags, **{tag: rng.randint(1, 40) for tag in seeds}})
        # an official tag's group is anchored by officials only, any other tag's by any tag
        full = {(key, officials): set(group) for officials in (False, True)
                for group in grouper._build_groups(officials_only=officials) for key in group}
        for key in grouper._tags:
            group = grouper.group_of(key)
            expected = full.get((key, key in grouper.official), {key})
            assert {v["key"] for v in group["variants"] if v["posts"] > 0} == \
                {k for k in expected if grouper._tags[k].posts > 0}, key


class _CountedPosting(set):
    """An n-gram's posting (the keys holding it), counting how often it is
    scanned: the cost of a query.  Iteration goes through ``__iter__`` in
    compiled code too."""

    scans = 0

    def __iter__(self):
        _CountedPosting.scans += 1
        return super().__iter__()


def test_group_of_looks_only_at_the_tags_neighbourhood():
    # A CLI or web call must not pay for grouping every tag (seconds at max_tags).
    rng = random.Random(5)
    letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    junk = {"#" + "_".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 7)))
                           for _ in range(rng.randint(1, 3))): rng.randint(1, 30) for _ in range(3000)}
    grouper = VariantGrouper([OFFICIAL])
    feed_tags(grouper, {**junk, **{tag: 20 for tag in SUMMIT + SUMMIT_SPELLINGS + UNRELATED}})
    for gram, keys in grouper._grams.items():
        grouper._grams[gram] = _CountedPosting(keys)
    for tag in (OFFICIAL, "#قمة_بغداد", "#العراق", next(iter(junk))):
        _CountedPosting.scans = 0
        assert grouper.group_of(tag) is not None
        assert 0 < _CountedPosting.scans < 500, (tag, _CountedPosting.scans)
    _CountedPosting.scans = 0
    grouper._build_groups(officials_only=False)
    assert _CountedPosting.scans > 10_000, _CountedPosting.scans  # what a full pass costs (~21 000)


def test_state_round_trip_continues_identically():
    grouper = VariantGrouper([OFFICIAL], VariantConfig(sustain_minutes=5))
    feed_tags(grouper, {tag: 3 for tag in CONFERENCE + UNRELATED}, minute_at(0))
    assert len(run(grouper, range(1, 12), official=5, variants=21)) == 1
    restored = VariantGrouper.from_state(orjson.loads(orjson.dumps(grouper.to_state())))
    assert restored.to_state() == grouper.to_state()
    assert restored.groups() == grouper.groups()
    after = [run(g, range(12, 70), official=60, variants=9) for g in (grouper, restored)]
    assert [a.to_json() for a in after[0]] == [a.to_json() for a in after[1]]
    assert [a.status for a in after[0]] == ["resolved"]


# --- against the scenario generator ---------------------------------------------------

def tag_minutes_of(posts) -> dict[float, list[TagMinute]]:
    """Buckets posts into per-minute, per-key summaries the way the tag stage does."""
    buckets: dict[tuple[float, str], dict] = {}
    for post in posts:
        minute = minute_of(parse_time(post["created_at"], "created_at"))
        for surface in extract_hashtags(post["text"]):
            bucket = buckets.setdefault((minute, canonical_key(surface)),
                                        {"surfaces": Counter(), "authors": Counter()})
            bucket["surfaces"][surface] += 1
            bucket["authors"][post["author"]] += 1
    by_minute: dict[float, list[TagMinute]] = defaultdict(list)
    for (minute, key), b in sorted(buckets.items()):
        posts_n = sum(b["surfaces"].values())
        by_minute[minute].append(TagMinute(
            key=key, display="#" + b["surfaces"].most_common(1)[0][0], minute=minute,
            posts=posts_n, authors=len(b["authors"]), expected=0.0, score=0.0, surging=False,
            firing=False, surfaces=b["surfaces"].most_common(6),
            top_authors=b["authors"].most_common(10), author_hashes=sketch(b["authors"])))
    return by_minute


def test_fragmentation_preset_fires_for_each_official_tag():
    presets = pytest.importorskip("scenarios.presets")
    scenario = presets.fragmentation(warmup_hours=0.5, event_hours=3.0)
    labels = [label for label in scenario.labels if label["kind"] == "fragmentation"]
    grouper = VariantGrouper([label["subject"] for label in labels])
    by_minute = tag_minutes_of(scenario.posts)
    first, last = min(by_minute), max(by_minute)
    alerts = []
    for minute in itertools.takewhile(lambda m: m <= last, itertools.count(first, 60.0)):
        alerts += grouper.on_minute(minute, by_minute.get(minute, []))

    firing = [a for a in alerts if a.status == "firing"]
    assert sorted(a.subject for a in firing) == sorted(label["subject"] for label in labels)
    for label in labels:
        alert = next(a for a in firing if a.subject == label["subject"])
        assert parse_time(label["onset"], "onset") < alert.at < parse_time(label["end"], "end")
        assert alert.observed < 0.3
        assert set(label["variants"]) <= set(alert.related)
        # It fires early in the event, when each office has posted only a few times.
        top = [a["author"] for a in alert.evidence["top_accounts"][:6]]
        assert top[0] in label["media_offices"]
        assert len(set(top) & set(label["media_offices"])) >= 3


def test_author_blocks_keep_the_busiest_authors_ties_in_arrival_order():
    # the block's cut is heapq.nlargest's (busiest first, ties as they arrived)
    rng = random.Random(7)
    tag = variants._Tag("k", ("k",))
    reference: dict[str, int] = {}
    for minute in range(10):
        top = [(f"a{rng.randrange(60)}", rng.randrange(1, 4)) for _ in range(10)]
        tag.add_authors(minute * 60.0, [], top)
        for author, count in top:
            reference[author] = reference.get(author, 0) + count
        if len(reference) > variants._AUTHORS_PER_BLOCK:
            reference = dict(heapq.nlargest(variants._AUTHORS_PER_BLOCK, reference.items(), key=lambda kv: kv[1]))
        assert list(tag.blocks[-1][2].items()) == list(reference.items())
