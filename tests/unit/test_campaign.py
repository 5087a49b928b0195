"""Coordination signals, the campaign decision and hijack / counter-surge attribution."""
from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import replace

import orjson
import pytest

from detectors.campaign import CampaignConfig, CampaignDetector, CoordinationWindow
from detectors.records import TagHit, TagMinute
from detectors.text import canonical_key
from detectors.windows import KMV

T0 = 1463983200.0  # 2016-05-23T06:00:00Z, the morning the Fallujah operation began
DAY = 86400.0
WATCHED = "#الفلوجة_تتحرر"
HOSTILE = "#انصروناـبالدعاء"
WATCHED_KEY = canonical_key(WATCHED)
HOSTILE_KEY = canonical_key(HOSTILE)
ORGANIC = "#الفلوجة_تغسل_وجهها"
ORGANIC_KEY = canonical_key(ORGANIC)

_ROOTS = ("الفلوجه", "العراق", "داعش", "القوات", "الحشد", "النصر", "الابطال", "تحرير", "بغداد",
          "الجيش", "المدنيين", "الحصار", "الاهالي", "الشهداء", "الوطن", "الامن", "المعركه",
          "الصباح", "الليل", "الاخبار", "الناس", "الشباب", "الطريق", "الجسر", "النهر", "المدينه",
          "السماء", "الدعاء", "الصبر", "الفرح", "الخبز", "الماء", "الكهرباء", "المستشفى", "المدرسه",
          "السوق", "البيت", "الاطفال", "العوائل", "الحكومه")
VOCABULARY = [prefix + root for root in _ROOTS for prefix in ("", "و", "ب", "ل")]

TEMPLATES = (
    "اللهم انصر اخواننا المستضعفين في الفلوجه وفك حصارهم وثبت اقدامهم وارزقهم الصبر والثبات يا رب العالمين",
    "ادعوا لاهلنا في الفلوجه فهم في امس الحاجه للدعاء في هذه الساعات العصيبه ولا تنسوهم من صالح دعائكم",
    "يا رب كن مع اهل الفلوجه ولا تكن عليهم واحفظ نساءهم واطفالهم وشيوخهم من كل سوء ومكروه",
    "لا تنسوا الفلوجه من دعائكم فالحصار اشتد والناس بلا طعام ولا دواء ولا ماء منذ ايام طويله",
    "الفلوجه تستغيث فهل من مجيب انشروا الوسم وادعوا لهم في كل صلاه وفي كل وقت يا امه الاسلام",
)


def hit(post_id, author, at, text="", *, key="tag", cotags=(), age_days: float | None = 400.0,
        repost_of=None) -> TagHit:
    return TagHit(key=key, surface=key, post_id=str(post_id), author=author, created_at=at,
                  platform="twitter", text=text, cotags=tuple(cotags),
                  author_created_at=None if age_days is None else at - age_days * DAY,
                  repost_of=repost_of)


def signals_of(hits, now=None, config=None) -> dict:
    window = CoordinationWindow(config)
    for h in hits:
        window.add(h)
    return window.signals(now if now is not None else max(h.created_at for h in hits) + 1.0)


def varied_text(rng: random.Random, words: int = 12) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(words))


def edited(rng: random.Random, template: str) -> str:
    """A template with one word swapped and, sometimes, a number appended: the
    small edits copy-paste accounts make to dodge exact-duplicate filters."""
    words = template.split()
    words[rng.randrange(len(words))] = rng.choice(VOCABULARY)
    if rng.random() < 0.5:
        words.append(str(rng.randrange(100)))
    return " ".join(words)


# --- each signal on hand-built hits ------------------------------------------------------

def test_young_share_counts_accounts_with_known_age_only():
    hits = ([hit(i, f"young{i}", T0 + i, age_days=5) for i in range(10)]
            + [hit(100 + i, f"old{i}", T0 + i, age_days=900) for i in range(30)]
            + [hit(200 + i, f"unknown{i}", T0 + i, age_days=None) for i in range(50)])
    young = signals_of(hits)["signals"]["young_accounts"]
    assert young["value"] == pytest.approx(10 / 40) and young["support"] == 40
    assert not young["tripped"]

    hits = ([hit(i, f"young{i}", T0 + i, age_days=12) for i in range(30)]
            + [hit(100 + i, f"old{i}", T0 + i, age_days=900) for i in range(10)]
            + [hit(200 + i, f"unknown{i}", T0 + i, age_days=None) for i in range(50)])
    young = signals_of(hits)["signals"]["young_accounts"]
    assert young["value"] == pytest.approx(0.75) and young["tripped"]


def test_young_age_is_measured_at_post_time():
    # created 40 days before the post: not young, however recent its creation looks
    hits = [hit(i, f"a{i}", T0 + i, age_days=40) for i in range(30)]
    assert signals_of(hits)["signals"]["young_accounts"]["value"] == 0.0


def test_near_duplicate_share_and_templates():
    rng = random.Random(4)
    hits = [hit(i, f"copy{i}", T0 + i, edited(rng, TEMPLATES[i % 2])) for i in range(30)]
    hits += [hit(100 + i, f"own{i}", T0 + i, varied_text(rng)) for i in range(20)]
    s = signals_of(hits)
    near = s["signals"]["near_duplicates"]
    assert near["support"] == 50
    assert 0.5 <= near["value"] <= 0.6 and near["tripped"]
    assert len(s["templates"]) == 2
    matched = set()
    for template in s["templates"]:
        assert 12 <= template["posts"] <= 15 and template["accounts"] == template["posts"]
        words = template["text"].split()
        matched |= {i for i in (0, 1) if len(set(words) - set(TEMPLATES[i].split())) <= 2}
    assert matched == {0, 1}
    assert set(s["sample_post_ids"]) <= {str(i) for i in range(30)}


def test_varied_and_short_texts_are_not_near_duplicates():
    rng = random.Random(5)
    varied = signals_of([hit(i, f"u{i}", T0 + i, varied_text(rng)) for i in range(60)])
    assert varied["signals"]["near_duplicates"]["value"] == 0.0 and varied["templates"] == []
    # "#tag الله اكبر" by a crowd is a slogan, not a template: too short to compare
    short = signals_of([hit(i, f"u{i}", T0 + i, "#الفلوجة_تتحرر الله اكبر") for i in range(60)])
    assert short["signals"]["near_duplicates"]["support"] == 0
    assert not short["signals"]["near_duplicates"]["tripped"]


def test_one_account_repeating_itself_is_not_a_template():
    hits = [hit(i, "spammer", T0 + i, TEMPLATES[0]) for i in range(30)]
    assert signals_of(hits)["templates"] == []


def test_synchronized_bursts_trip_when_repeated():
    background = [hit(1000 + i, f"bg{i}", T0 + i * 12.0, "x") for i in range(60)]
    bursts = [hit(k * 100 + j, f"bot{k}_{j}", T0 + 10 + k * 120 + j * 0.3, "x")
              for k in range(6) for j in range(10)]
    sync = signals_of(background + bursts, now=T0 + 800)["signals"]["synchronized"]
    # each burst bin [T0+10+120k, T0+15+120k) also holds the background post at T0+12+120k
    assert sync["bursts"] == 6 and sync["largest_burst"] == 11
    assert sync["value"] == pytest.approx(66 / 120) and sync["tripped"]


def test_a_single_burst_is_not_synchronized_posting():
    background = [hit(1000 + i, f"bg{i}", T0 + i * 12.0, "x") for i in range(60)]
    burst = [hit(i, f"bot{i}", T0 + 300 + i * 0.1, "x") for i in range(30)]
    sync = signals_of(background + burst, now=T0 + 800)["signals"]["synchronized"]
    assert sync["bursts"] == 1 and sync["value"] > 0.25 and not sync["tripped"]


def test_fast_organic_posting_is_not_synchronized():
    # ~3 posts a second from distinct accounts: ~15 per 5-second bin, Poisson
    rng = random.Random(6)
    t, hits = T0, []
    while t < T0 + 600:
        t += rng.expovariate(3.0)
        hits.append(hit(len(hits), f"u{len(hits)}", t, "x"))
    sync = signals_of(hits, now=T0 + 600)["signals"]["synchronized"]
    assert sync["bursts"] <= 1 and not sync["tripped"]


def test_reposts_do_not_count_as_synchronized_posting():
    original = hit("orig", "celebrity", T0, "x")
    reposts = [hit(k * 100 + j, f"fan{k}_{j}", T0 + 10 + k * 120 + j * 0.3, "x", repost_of="orig")
               for k in range(6) for j in range(10)]
    background = [hit(1000 + i, f"bg{i}", T0 + i * 12.0, "x") for i in range(60)]
    sync = signals_of([original] + reposts + background, now=T0 + 800)["signals"]["synchronized"]
    assert sync["bursts"] == 0


def test_identical_tag_sets_across_accounts():
    shared = [hit(i, f"s{i}", T0 + i, cotags=("a", "b")) for i in range(15)]
    own = [hit(100 + i, f"o{i}", T0 + i, cotags=(f"x{i}", f"y{i}")) for i in range(15)]
    s = signals_of(shared + own)["signals"]["identical_tag_sets"]
    assert s["value"] == pytest.approx(0.5) and s["tripped"]
    assert s["tag_sets"] == [{"tags": ["a", "b", "tag"], "accounts": 15}]


def test_tag_sets_need_two_tags_and_many_accounts():
    lone = signals_of([hit(i, f"s{i}", T0 + i) for i in range(40)])
    assert lone["signals"]["identical_tag_sets"]["value"] == 0.0
    one_account = signals_of([hit(i, "same", T0 + i, cotags=("a", "b")) for i in range(40)])
    assert one_account["signals"]["identical_tag_sets"]["value"] == 0.0


def test_repost_ring_among_accounts_reposting_each_other():
    ring = [f"r{i}" for i in range(5)]
    hits = [hit(f"p_{a}", a, T0, "x") for a in ring]
    hits += [hit(f"rp_{a}_{b}", a, T0 + 30, repost_of=f"p_{b}") for a in ring for b in ring if a != b]
    hits += [hit(f"o{i}", f"other{i}", T0 + i, "x") for i in range(25)]
    s = signals_of(hits)["signals"]["repost_ring"]
    assert s["value"] == pytest.approx(20 / 50) and s["tripped"]
    assert s["rings"] == [{"accounts": 5, "members": ring}]


def test_fans_reposting_a_star_or_a_pair_is_not_a_ring():
    hits = [hit("star_post", "star", T0, "x")]
    hits += [hit(f"f{i}", f"fan{i}", T0 + i, repost_of="star_post") for i in range(40)]
    # two friends reposting each other: a pair, not a ring
    hits += [hit("pa", "p1", T0, "x"), hit("pb", "p2", T0, "x"),
             hit("pab", "p1", T0 + 5, repost_of="pb"), hit("pba", "p2", T0 + 5, repost_of="pa")]
    s = signals_of(hits)["signals"]["repost_ring"]
    assert s["value"] == 0.0 and s["rings"] == []


def test_posts_per_author():
    heavy = signals_of([hit(i, f"a{i % 10}", T0 + i) for i in range(50)])["signals"]["posts_per_author"]
    assert heavy["value"] == 5.0 and heavy["tripped"]
    light = signals_of([hit(i, f"a{i}", T0 + i) for i in range(50)])["signals"]["posts_per_author"]
    assert light["value"] == 1.0 and not light["tripped"]


def test_driving_accounts_and_cotags():
    hits = [hit(i, f"a{i % 3}", T0 + i, cotags=("x",) if i % 2 else ("x", "y")) for i in range(30)]
    s = signals_of(hits)
    assert s["driving_accounts"] == [["a0", 10], ["a1", 10], ["a2", 10]]
    assert s["cotags"] == [["x", 30], ["y", 15]]


def test_driving_accounts_are_the_commonest_with_ties_by_name():
    # more accounts than are shown, many tied at the cut: the cut's ties go by name
    rng = random.Random(3)
    authors = [f"u{rng.randrange(60):02d}" for _ in range(400)] + ["zz"] * 9 + ["aa"] * 9
    s = signals_of([hit(i, a, T0 + i) for i, a in enumerate(authors)])
    counts = Counter(authors)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:CampaignConfig().top_n]
    assert s["driving_accounts"] == [list(pair) for pair in expected]
    assert s["accounts"] == len(counts)


def test_signals_are_json_serialisable():
    rng = random.Random(7)
    hits = [hit(i, f"copy{i % 40}", T0 + (i % 5) * 60 + i % 3, edited(rng, TEMPLATES[i % 3]),
                cotags=("a",), age_days=3, repost_of=str(i - 1) if i % 4 == 0 and i else None)
            for i in range(200)]
    s = signals_of(hits)
    assert json.loads(json.dumps(s)) == s


# --- the decision on a window --------------------------------------------------------------

def test_one_strong_signal_is_not_a_campaign():
    # young accounts, but varied text, spread-out timing, no shared tags
    rng = random.Random(8)
    hits = [hit(i, f"new{i}", T0 + i * 7.0, varied_text(rng), age_days=3) for i in range(100)]
    s = signals_of(hits)
    assert s["tripped"] == ["young_accounts"] and not s["coordinated"]


def test_copy_paste_slogan_by_an_old_crowd_is_not_a_campaign():
    # An organic movement quoting one statement with the same tags: content
    # signals trip, but no account or timing signal does.
    rng = random.Random(9)
    hits = [hit(i, f"citizen{i}", T0 + rng.uniform(0, 800), edited(rng, TEMPLATES[0]),
                cotags=("عراق",), age_days=rng.uniform(200, 3000)) for i in range(300)]
    s = signals_of(hits, now=T0 + 801)
    assert {"near_duplicates", "identical_tag_sets"} <= set(s["tripped"])
    assert not s["coordinated"]


# --- the detector on synthetic minute streams ------------------------------------------------

def campaign_hits(rng, onset, end, *, key=HOSTILE_KEY, cotags=(WATCHED_KEY, "داعش"), accounts=300,
                  prefix="bot"):
    """Young accounts posting 5 templates with small edits, in a burst of ~40
    accounts every ~2 minutes plus a trickle in between."""
    bots = [(f"{prefix}{i}", rng.uniform(2, 20)) for i in range(accounts)]
    hits, t = [], onset + 5
    while t < end:
        template = rng.randrange(len(TEMPLATES))
        for name, age in rng.sample(bots, 40):
            at = t + rng.uniform(0, 4)
            hits.append(hit(f"{prefix}-{len(hits)}", name, at, edited(rng, TEMPLATES[template]),
                            key=key, cotags=cotags, age_days=age))
        t += rng.uniform(105, 135)
    t = onset
    while t < end:
        t += rng.expovariate(10 / 60)
        name, age = rng.choice(bots)
        hits.append(hit(f"{prefix}-{len(hits)}", name, t, edited(rng, rng.choice(TEMPLATES)),
                        key=key, cotags=cotags, age_days=age))
    return hits


def organic_hits(rng, start, end, *, key=WATCHED_KEY, accounts=800, per_minute=50, prefix="citizen"):
    """Old accounts, varied text, Poisson timing, a few random companion tags and
    some reposts of earlier posts."""
    people = [(f"{prefix}{i}", rng.uniform(200, 3000)) for i in range(accounts)]
    companions = [f"tag{i}" for i in range(30)]
    hits, t = [], start
    while True:
        t += rng.expovariate(per_minute / 60)
        if t >= end:
            return hits
        name, age = rng.choice(people)
        cotags = tuple(rng.sample(companions, rng.randrange(3)))
        if hits and rng.random() < 0.1:
            hits.append(hit(f"{prefix}-{len(hits)}", name, t, key=key, cotags=cotags, age_days=age,
                            repost_of=rng.choice(hits[-200:]).post_id))
        else:
            hits.append(hit(f"{prefix}-{len(hits)}", name, t, varied_text(rng, rng.randrange(6, 20)),
                            key=key, cotags=cotags, age_days=age))


class TagStage:
    """The tag stage as the detector sees it: a window per tag while it surges
    (between the given times), one TagMinute per minute of an active tag."""

    def __init__(self, displays: dict[str, str], surging: dict[str, tuple[float, float]]):
        self.displays = displays
        self.surging = surging
        self.windows: dict[str, CoordinationWindow] = {}

    def minute(self, start: float, hits_by_key: dict[str, list[TagHit]]) -> list[TagMinute]:
        summaries = []
        for key, hits in hits_by_key.items():
            minute_hits = [h for h in hits if start <= h.created_at < start + 60]
            surge_from, surge_until = self.surging[key]
            surging = surge_from <= start < surge_until
            if not surging:
                self.windows.pop(key, None)
                if not minute_hits:
                    continue
            coordination = None
            if surging:
                window = self.windows.setdefault(key, CoordinationWindow())
                for h in minute_hits:
                    window.add(h)
                coordination = window.signals(start + 60)
            authors = KMV(64)
            for h in minute_hits:
                authors.add(h.author)
            summaries.append(TagMinute(
                key=key, display=self.displays[key], minute=start, posts=len(minute_hits),
                authors=len({h.author for h in minute_hits}), expected=2.0,
                score=8.0 if surging else 0.0, surging=surging, firing=surging,
                author_hashes=authors.hashes,
                cotags=Counter(c for h in minute_hits for c in h.cotags).most_common(10),
                coordination=coordination))
        return summaries


def run(detector, stage, hits_by_key, minutes, first_minute=0):
    alerts, coordination = [], {}
    for m in range(first_minute, minutes):
        start = T0 + m * 60
        summaries = stage.minute(start, hits_by_key)
        for s in summaries:
            if s.coordination:
                coordination.setdefault(s.key, []).append(s.coordination)
        alerts += detector.on_minute(start, summaries)
    return alerts, coordination


@pytest.fixture(scope="module")
def fallujah():
    """#انصروناـبالدعاء pushed by 300 young accounts from minute 5 to 25. Its
    posts also carry the watched #الفلوجة_تتحرر (which has its own organic crowd),
    so they are hits of both tags.  #الفلوجة_تغسل_وجهها surges organically,
    with 800 old accounts, from the campaign's onset."""
    rng = random.Random(2016)
    onset = T0 + 300
    pushed = campaign_hits(rng, onset, T0 + 1500)
    flooding = [replace(h, key=WATCHED_KEY, surface=WATCHED_KEY, cotags=(HOSTILE_KEY, "داعش")) for h in pushed]
    hits = {HOSTILE_KEY: pushed,
            WATCHED_KEY: sorted(organic_hits(rng, T0, T0 + 2700, accounts=400, per_minute=20) + flooding,
                                key=lambda h: h.created_at),
            ORGANIC_KEY: organic_hits(rng, onset, T0 + 2700)}
    stage = TagStage({HOSTILE_KEY: HOSTILE, WATCHED_KEY: WATCHED, ORGANIC_KEY: ORGANIC},
                     {HOSTILE_KEY: (onset, T0 + 1560), WATCHED_KEY: (T0 + 120, T0 + 2700),
                      ORGANIC_KEY: (onset, T0 + 2700)})
    detector = CampaignDetector([WATCHED])
    alerts, coordination = run(detector, stage, hits, 55)  # resolves 20 calm minutes after the push
    return onset, alerts, coordination


def test_coordinated_push_is_flagged_and_names_the_watched_tag(fallujah):
    onset, alerts, _ = fallujah
    firing = [a for a in alerts if a.status == "firing"]
    assert [a.key for a in firing] == [HOSTILE_KEY]
    alert = firing[0]
    assert alert.kind == "counter_campaign" and alert.subject == HOSTILE
    assert onset < alert.at <= onset + 15 * 60
    assert alert.related == [WATCHED]
    assert alert.evidence["targets"][0]["tag"] == WATCHED
    assert alert.evidence["targets"][0]["relation"] == "co-occurs"
    assert alert.summary.startswith(f"Coordinated push on {HOSTILE} (")
    assert "young" in alert.summary and alert.summary.endswith(f"targeting {WATCHED}")
    assert alert.severity == "critical" and alert.score >= 2.5
    assert alert.evidence["measured_on"] == HOSTILE


def test_campaign_evidence_lists_accounts_templates_and_signals(fallujah):
    _, alerts, _ = fallujah
    evidence = next(a for a in alerts if a.status == "firing").evidence
    driving = evidence["driving_accounts"]
    assert len(driving) == 10 and all(d["author"].startswith("bot") for d in driving)
    assert [d["posts"] for d in driving] == sorted((d["posts"] for d in driving), reverse=True)
    assert len(evidence["templates"]) >= 3
    assert all(len(t["text"]) <= 200 and t["accounts"] >= 2 for t in evidence["templates"])
    assert {"young_accounts", "near_duplicates"} <= set(evidence["tripped"])
    for name, signal in evidence["signals"].items():
        assert signal["tripped"] == (name in evidence["tripped"])
        assert not signal["tripped"] or signal["value"] >= signal["threshold"]
    assert {c["tag"] for c in evidence["cotags"]} >= {WATCHED, "#داعش"}
    assert evidence["sample_post_ids"] and all(p.startswith("bot-") for p in evidence["sample_post_ids"])
    json.dumps(next(a for a in alerts if a.status == "firing").to_json())


def test_organic_surge_is_not_a_campaign(fallujah):
    _, alerts, coordination = fallujah
    assert not [a for a in alerts if a.key == ORGANIC_KEY]
    organic = coordination[ORGANIC_KEY]
    assert len(organic) >= 35 and not any(c["coordinated"] for c in organic)
    assert max(c["score"] for c in organic) < 2.0


def test_hijacked_watched_tag_is_the_target_not_a_campaign(fallujah):
    # the push floods the watched tag's own window, which does look coordinated
    _, alerts, coordination = fallujah
    assert any(c["coordinated"] for c in coordination[WATCHED_KEY])
    assert not [a for a in alerts if a.key == WATCHED_KEY]


def test_campaign_episode_fires_once_then_resolves(fallujah):
    _, alerts, _ = fallujah
    hostile = [a for a in alerts if a.key == HOSTILE_KEY]
    assert [a.status for a in hostile] == ["firing", "resolved"]
    assert hostile[0].id == hostile[1].id and hostile[1].at > T0 + 1500


def test_push_seen_only_in_the_flooded_watched_tag_is_credited_to_the_pusher():
    # The pushing tag's window never saw the burst (it began surging too late,
    # say); the watched tag's did.  The alert is still on the pusher.
    rng = random.Random(17)
    pushed = campaign_hits(rng, T0, T0 + 900)
    flooding = [replace(h, key=WATCHED_KEY, surface=WATCHED_KEY, cotags=(HOSTILE_KEY, "داعش")) for h in pushed]
    hits = {HOSTILE_KEY: pushed,
            WATCHED_KEY: sorted(organic_hits(rng, T0, T0 + 900, accounts=300, per_minute=15) + flooding,
                                key=lambda h: h.created_at)}
    stage = TagStage({HOSTILE_KEY: HOSTILE, WATCHED_KEY: WATCHED},
                     {HOSTILE_KEY: (math.inf, math.inf), WATCHED_KEY: (T0, T0 + 900)})
    alerts, coordination = run(CampaignDetector([WATCHED]), stage, hits, 15)
    assert any(c["coordinated"] for c in coordination[WATCHED_KEY]) and HOSTILE_KEY not in coordination
    firing = [a for a in alerts if a.status == "firing"]
    assert [(a.key, a.subject) for a in firing] == [(HOSTILE_KEY, HOSTILE)]
    assert firing[0].evidence["measured_on"] == WATCHED and firing[0].related == [WATCHED]
    assert firing[0].evidence["targets"][0]["relation"] == "co-occurs"
    assert firing[0].observed > 0


def counter_surge(overlapping: bool):
    """A push with no watched-tag co-occurrence, while the watched tag surges:
    by its own crowd (disjoint authors), or by the same bots (overlapping)."""
    rng = random.Random(99)
    hits = {HOSTILE_KEY: campaign_hits(rng, T0, T0 + 1200, cotags=("داعش",))}
    if overlapping:
        hits[WATCHED_KEY] = organic_hits(rng, T0, T0 + 1200, accounts=300, prefix="bot")
    else:
        hits[WATCHED_KEY] = organic_hits(rng, T0, T0 + 1200)
    stage = TagStage({HOSTILE_KEY: HOSTILE, WATCHED_KEY: WATCHED},
                     {HOSTILE_KEY: (T0, T0 + 1200), WATCHED_KEY: (T0, T0 + 1200)})
    alerts, _ = run(CampaignDetector([WATCHED]), stage, hits, 20)
    return [a for a in alerts if a.status == "firing"]


def test_counter_surge_with_disjoint_authors_is_named():
    firing = counter_surge(overlapping=False)
    assert [a.key for a in firing] == [HOSTILE_KEY]
    targets = firing[0].evidence["targets"]
    assert [(t["tag"], t["relation"]) for t in targets] == [(WATCHED, "counter-surge")]
    assert targets[0]["overlap"] < 0.1
    assert firing[0].related == [WATCHED] and firing[0].summary.endswith(f"targeting {WATCHED}")


def test_surge_by_the_same_accounts_is_not_a_counter_surge():
    firing = counter_surge(overlapping=True)
    assert [a.key for a in firing] == [HOSTILE_KEY]
    assert firing[0].evidence["targets"] == [] and firing[0].related == []
    assert "targeting" not in firing[0].summary


# --- memory and state ---------------------------------------------------------------------

def test_window_memory_is_bounded():
    window = CoordinationWindow()
    for i in range(100_000):
        # every tenth text long enough to be signed; all distinct
        text = f"نص طويل رقم {i} فيه كلمات كافيه" if i % 10 == 0 else f"قصير {i}"
        window.add(hit(i, f"u{i % 5000}", T0 + i * 0.001, text))
        assert len(window) <= 3000
    assert len(window) == 3000
    state = window.to_state()
    assert len(state["examples"]) <= 3000
    assert window.signals(T0 + 100.0)["posts"] == 3000


def test_window_slides_on_event_time():
    window = CoordinationWindow(CampaignConfig(window_seconds=600))
    for i in range(100):
        window.add(hit(i, f"u{i}", T0 + i * 10, "x"))
    assert window.signals(T0 + 1000)["posts"] == 60  # posts at T0+400 .. T0+990
    window.add(hit("late", "x", T0 + 100, "x"))  # older than the window: dropped
    assert len(window) == 60


def test_window_state_round_trip():
    rng = random.Random(11)
    window = CoordinationWindow()
    for h in campaign_hits(rng, T0, T0 + 600)[:400]:
        window.add(h)
    window.add(hit("rp", "bot1", T0 + 500, key=HOSTILE_KEY, repost_of="bot-3"))
    state = orjson.loads(orjson.dumps(window.to_state()))
    restored = CoordinationWindow.from_state(state)
    assert len(restored) == len(window) and restored.key == window.key
    assert restored.signals(T0 + 660) == window.signals(T0 + 660)
    more = hit("new", "bot2", T0 + 610, edited(rng, TEMPLATES[0]), key=HOSTILE_KEY)
    window.add(more)
    restored.add(more)
    assert restored.to_state() == window.to_state()


def test_detector_state_round_trip():
    rng = random.Random(12)
    hits = {HOSTILE_KEY: campaign_hits(rng, T0, T0 + 1200),
            WATCHED_KEY: organic_hits(rng, T0, T0 + 1200, per_minute=30)}
    surging = {HOSTILE_KEY: (T0, T0 + 1200), WATCHED_KEY: (T0, T0 + 1200)}
    displays = {HOSTILE_KEY: HOSTILE, WATCHED_KEY: WATCHED}
    stage = TagStage(displays, surging)
    detector = CampaignDetector([WATCHED], CampaignConfig(fire_after=3))
    first, _ = run(detector, stage, hits, 2)
    assert first == []  # mid-way to firing: the streak must survive the restore
    restored = CampaignDetector.from_state(orjson.loads(orjson.dumps(detector.to_state())))
    assert restored.to_state() == detector.to_state()
    restored_stage = TagStage(displays, surging)
    restored_stage.windows = {k: CoordinationWindow.from_state(w.to_state()) for k, w in stage.windows.items()}
    rest, _ = run(detector, stage, hits, 20, first_minute=2)
    rest_restored, _ = run(restored, restored_stage, hits, 20, first_minute=2)
    assert rest and [a.to_json() for a in rest_restored] == [a.to_json() for a in rest]


# --- the shared scenario generator ----------------------------------------------------------

def test_counter_campaign_preset():
    presets = pytest.importorskip("scenarios.presets")
    from detectors.records import format_time, hits_of, parse_post, parse_time

    scenario = presets.counter_campaign(warmup_hours=0.5)
    labels = {canonical_key(label["subject"]): label for label in scenario.labels}
    campaign = next(label for label in scenario.labels if label["kind"] == "counter_campaign")
    onset = parse_time(campaign["onset"], "onset")
    first, last = onset - 600, onset + 2 * 3600
    hits_by_key: dict[str, list[TagHit]] = {key: [] for key in labels}
    for raw in scenario.posts:
        post = parse_post(orjson.dumps(raw))
        if post.created_at >= last:
            break
        if post.created_at >= first:
            for h in hits_of(post):
                if h.key in hits_by_key:
                    hits_by_key[h.key].append(h)
    # the cheap first stage is taken as given: a tag surges over its labelled span
    stage = TagStage({key: label["subject"] for key, label in labels.items()},
                     {key: (parse_time(label["onset"], "onset"), parse_time(label["end"], "end"))
                      for key, label in labels.items()})
    detector = CampaignDetector([presets.WATCHED_TAG])
    alerts, _ = run(detector, stage, hits_by_key, int((last - T0) // 60), first_minute=int((first - T0) // 60))
    firing = [a for a in alerts if a.status == "firing"]
    hostile = canonical_key(campaign["subject"])
    # one episode over two hours of bursts ~15 minutes apart
    assert [a.key for a in firing] == [hostile], [(a.subject, format_time(a.at)) for a in firing]
    assert firing[0].at <= onset + 15 * 60
    assert presets.WATCHED_TAG in firing[0].related
    assert {d["author"] for d in firing[0].evidence["driving_accounts"]} <= set(campaign["accounts"])


def test_batched_signatures_are_datasketchs_minhash():
    """The window signs a minute's new texts in one pass; the values must be
    datasketch's own, so clusters do not depend on how texts were batched."""
    from datasketch import MinHash

    from detectors.campaign import _shingles, _signatures

    rng = random.Random(3)
    words = [f"w{i}" for i in range(40)] + ["الفلوجه", "تتحرر", "ادعوا", "لاخوانكم"]
    sets = [_shingles([rng.choice(words) for _ in range(rng.randint(5, 40))], 2) for _ in range(200)]
    expected = []
    for shingles in sets:
        minhash = MinHash(num_perm=64, seed=1)
        minhash.update_batch(shingles)
        expected.append(minhash.hashvalues.tolist())
    assert _signatures(sets, 64).tolist() == expected
    assert _signatures(sets[7:8], 64).tolist() == expected[7:8]


def test_texts_shorter_than_a_shingle_are_not_compared():
    window = CoordinationWindow(CampaignConfig(min_text_words=1, shingle_words=3))
    for i, text in enumerate(["نصر", "نصر قريب"] + ["ادعوا لاخوانكم في الفلوجه"] * 3):
        window.add(TagHit("t", "t", str(i), f"a{i}", 60.0 + i, "twitter", text))
    near = window.signals(120.0)["signals"]["near_duplicates"]
    assert near["support"] == 3 and near["clusters"] == 1


@pytest.mark.parametrize("n, seed", [(1, 0), (2, 1), (40, 2), (300, 3)])
def test_near_duplicate_clusters_join_texts_sharing_a_band_and_half_their_signature(n, seed):
    """All bands are sorted in one numpy pass; the clusters are those of the plain
    reading: in each LSH band a text is a candidate of the first text with the
    same band (not of every such text: a bucket of k texts costs k - 1 checks),
    joined to it if at least half the signature is equal, and labelled by the
    first text of its connected component."""
    import numpy as np

    from detectors.campaign import _band_keys, _lsh_bands, _near_duplicate_labels

    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 1 << 32, (max(n // 4, 1), 64), dtype=np.uint32)
    signatures = templates[rng.integers(0, len(templates), n)]
    rewritten = rng.random((n, 64)) < rng.choice([0.1, 0.4, 0.7], (n, 1))  # near, borderline, far
    signatures = np.where(rewritten, rng.integers(0, 1 << 32, (n, 64), dtype=np.uint32), signatures)
    bands, rows = _lsh_bands(0.5, 64)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for k in range(bands):
        first_with: dict[bytes, int] = {}
        for b in range(n):
            a = first_with.setdefault(signatures[b, k * rows:(k + 1) * rows].tobytes(), b)
            if a != b and (signatures[a] == signatures[b]).mean() >= 0.5:
                ra, rb = root(a), root(b)
                parent[max(ra, rb)] = min(ra, rb)
    expected = [root(i) for i in range(n)]
    assert _near_duplicate_labels(signatures, _band_keys(signatures, 0.5, 64), 0.5) == expected
    assert n < 40 or len(set(expected)) < n  # some texts do cluster


def test_a_window_reusing_signature_rows_measures_what_a_fresh_window_does():
    """Texts leaving the window give their signature rows to new texts; the
    signals must be those of a window rebuilt from its hits (signed afresh)."""
    rng = random.Random(5)
    slogans = [f"ادعوا لاخوانكم المجاهدين في الفلوجه نداء {i} الان" for i in range(6)]
    window = CoordinationWindow(CampaignConfig(window_seconds=300.0))
    for minute in range(20):
        for i in range(rng.randint(10, 60)):
            text = rng.choice(slogans) + f" {rng.randint(0, 3)}" if rng.random() < 0.5 else \
                " ".join(f"كلمه{rng.randint(0, 500)}" for _ in range(8))
            window.add(TagHit("t", "t", f"{minute}-{i}", f"a{rng.randint(0, 80)}", minute * 60.0 + rng.random() * 60,
                              "twitter", text, cotags=("x",), author_created_at=0.0))
        now = (minute + 1) * 60.0
        measured = window.signals(now)
        assert measured == CoordinationWindow.from_state(window.to_state()).signals(now)
    assert len(window._pool.signatures) < 3 * len(window._texts)  # rows were reused, not only added
    assert measured["signals"]["near_duplicates"]["clusters"] >= 1


def test_ranked_lists_the_commonest_first_ties_by_name():
    from detectors.campaign import _ranked

    counts = Counter({"b": 3, "a": 3, "c": 5, "d": 1, "e": 3})
    assert _ranked(counts, 2) == [["c", 5], ["a", 3]]
    assert _ranked(counts, 4) == [["c", 5], ["a", 3], ["b", 3], ["e", 3]]
    assert _ranked(counts, 10) == [["c", 5], ["a", 3], ["b", 3], ["e", 3], ["d", 1]]
    assert _ranked(Counter(), 3) == []
