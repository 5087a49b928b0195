"""Deterministic synthetic social-media traffic for Rasd, with ground-truth labels.

A :class:`ScenarioBuilder` describes a time span of ordinary Iraqi social-media
traffic (background) and a set of events injected on top of it: organic
emerging tags, a daily-periodic tag, a coordinated counter-campaign, platform
outages, ingest stalls and hashtag fragmentation. ``build()`` returns a
:class:`Scenario` whose ``posts`` property regenerates the same stream, sorted
by ``created_at``, every time it is read, and whose ``labels`` say what was
injected, when and by whom.

Everything random flows from ``random.Random`` instances seeded with strings
derived from the scenario seed, so output is identical across runs and
processes (string seeds do not depend on ``PYTHONHASHSEED``).

Labels are dicts with ``kind`` (``emerging``, ``periodic``,
``counter_campaign``, ``outage``, ``ingest_stall``, ``fragmentation``),
``subject`` (a hashtag, a platform, or ``"*"`` for all platforms), ``onset``
and ``end`` (ISO-8601 UTC), plus kind-specific details (campaign accounts,
bursts and templates; variant tags and media offices; outage residual share).

Post contract (one dict per post; ``author_created_at`` and ``repost_of`` are
optional)::

    {"id": "tw-000001", "platform": "twitter", "author": "u12345",
     "author_created_at": "2016-05-01T09:00:00Z",
     "created_at": "2016-05-23T06:00:05Z", "text": "...", "lang": "ar",
     "repost_of": "tw-000000"}
"""

from __future__ import annotations

import heapq
import math
import random
import time
from bisect import bisect
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import accumulate
from operator import attrgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import orjson

IRAQ_UTC_OFFSET_SECONDS = 3 * 3600  # Iraq stays on UTC+3 all year (DST dropped in 2008)
DAY_SECONDS = 86400

PLATFORMS = ("facebook", "twitter", "instagram", "telegram")
# Facebook dominates Iraqi social media; Twitter is smaller but where news tags fight.
PLATFORM_SHARES = {"facebook": 0.48, "twitter": 0.20, "instagram": 0.17, "telegram": 0.15}
ID_PREFIXES = {"facebook": "fb", "twitter": "tw", "instagram": "ig", "telegram": "tg"}
ENGLISH_SHARES = {"facebook": 0.04, "twitter": 0.12, "instagram": 0.08, "telegram": 0.03}
# Telegram channel posts expose no account creation date.
PLATFORMS_WITHOUT_ACCOUNT_AGE = frozenset({"telegram"})

# Relative posting activity by Iraq local hour (0..23): trough 03-06, peak 20-22.
_HOURLY_RAW = (1.15, 0.85, 0.55, 0.33, 0.24, 0.24, 0.33, 0.52, 0.72, 0.88, 0.98, 1.03,
               1.05, 1.00, 0.95, 1.00, 1.08, 1.18, 1.30, 1.45, 1.60, 1.70, 1.62, 1.42)
_HOURLY_MEAN = sum(_HOURLY_RAW) / len(_HOURLY_RAW)
HOURLY_ACTIVITY = tuple(weight / _HOURLY_MEAN for weight in _HOURLY_RAW)
# Monday..Sunday: Friday (prayer, weekend) is quieter, Saturday slightly busier.
WEEKDAY_ACTIVITY = (1.0, 1.0, 1.0, 1.02, 0.9, 1.06, 1.02)

# How many hashtags an ordinary post carries (0, 1, 2, 3): ~40 % carry none.
_HASHTAG_COUNT_CUMULATIVE = (0.40, 0.76, 0.92)

HEAD_HASHTAGS = (
    "#العراق", "#بغداد", "#البصرة", "#كرة_القدم", "#الطقس", "#الموصل", "#اربيل", "#النجف",
    "#كربلاء", "#عاجل", "#اخبار_العراق", "#المنتخب_العراقي", "#الدوري_العراقي", "#الكهرباء",
    "#صور", "#الناصرية", "#ريال_مدريد", "#برشلونة", "#وظائف", "#الامتحانات_الوزارية",
    "#السليمانية", "#كركوك", "#الحلة", "#الانبار", "#اغاني_عراقية", "#السيارات", "#الدولار",
    "#رياضة", "#Iraq", "#Baghdad", "#football", "#مجلس_النواب", "#الجامعات_العراقية",
    "#الزراعة", "#الصحة", "#الاسعار",
)
_TAIL_HEADS = ("شباب", "مطعم", "سوق", "جامعة", "نادي", "مدرسة", "شارع", "مول", "فريق", "اهالي",
               "كافيه", "مكتبة", "مستشفى", "نقابة", "مهرجان", "معرض", "بطولة", "حملة")
_TAIL_PLACES = ("الكرادة", "المنصور", "الكاظمية", "الاعظمية", "زيونة", "الجادرية", "البياع",
                "الدورة", "الشعلة", "العشار", "الزبير", "الكوفة", "الديوانية", "السماوة",
                "العمارة", "الكوت", "بعقوبة", "تكريت", "الرمادي", "دهوك", "سامراء", "الفاو",
                "ابو_الخصيب", "المحمودية")
_LONG_TAIL_SIZE = 360
_ZIPF_EXPONENT = 1.05

_SLOT_VALUES = {
    "place": ("بغداد", "البصرة", "الموصل", "اربيل", "النجف", "كربلاء", "الناصرية", "الكوت",
              "الحلة", "الديوانية", "السماوة", "العمارة", "كركوك", "الكرادة", "المنصور",
              "الكاظمية", "الاعظمية", "زيونة", "شارع فلسطين", "الجادرية", "العشار", "البياع",
              "الدورة", "الزبير", "الكوفة", "بعقوبة", "السليمانية", "دهوك", "الشعلة", "حي الجامعة"),
    "place_en": ("Baghdad", "Basra", "Erbil", "Najaf", "Karbala", "Mosul", "Sulaymaniyah",
                 "Karrada", "Mansour", "Kirkuk", "Hilla", "Kut"),
    "n": tuple(str(n) for n in range(2, 16)),
    "temp": tuple(str(n) for n in range(38, 51)),
    "hour": ("٧", "٨", "٩", "١٠", "6", "7", "8", "9", "10", "11"),
    "when": ("اليوم", "البارحة", "هسه", "الصبح", "بالليل", "من ساعة", "هالاسبوع", "باجر",
             "العصر", "قبل شوية", "الظهر", "من الفجر"),
    "team": ("الزوراء", "الشرطة", "القوة الجوية", "الطلبة", "الميناء", "نفط الوسط", "اربيل",
             "النجف", "الكرخ", "الحدود", "زاخو", "الكهرباء"),
    "player": ("يونس محمود", "علي عدنان", "همام طارق", "احمد ياسين", "مهند عبد الرحيم",
               "جستن ميرام", "علاء عبد الزهرة", "امجد عطوان", "سعد عبد الامير"),
    "name": ("ابو علي", "ام حسين", "حيدر", "مصطفى", "زينب", "سجاد", "نور", "عباس", "مريم",
             "علي", "فاطمة", "كرار", "احمد", "رسل", "منتظر", "هبة", "ياسر", "دعاء"),
    "day": ("الاحد", "الاثنين", "الثلاثاء", "الاربعاء", "الخميس", "الجمعة", "السبت"),
    "food": ("الباجة", "الدولمة", "التشريب", "المسگوف", "الكبة", "الفلافل", "القيمر والكاهي",
             "البرياني", "الكباب", "الباقلاء بالدهن", "الشاورما", "الكليجة"),
    "thing": ("الموبايل", "السيارة", "المبردة", "الثلاجة", "اللابتوب", "المولدة", "التلفزيون",
              "السبلت", "الراوتر", "الغسالة"),
    "subject": ("الرياضيات", "الفيزياء", "الكيمياء", "الانكليزي", "العربي", "الاحياء",
                "الاسلامية"),
}

_ARABIC_OPENERS = (
    "والله", "يا جماعة", "صراحة", "اليوم", "شباب", "للأسف", "الحمد لله", "بصراحة", "ها يا معود",
    "شنو رأيكم", "خبر حلو", "اخيراً", "ياريت", "من الصبح", "تخيلوا", "اسمعوا", "يعني",
    "حبايبي", "المهم", "عاجل:", "يا ناس", "هاي شلون", "اخوان", "بالمناسبة", "ترا",
)
_ARABIC_BODIES = (
    "الكهرباء طافية من {n} ساعات في {place}", "الزحمة بـ{place} {when} ما تنوصف",
    "الجو حار {when} والحرارة وصلت {temp} درجة", "رايحين على {place} {when} ان شاء الله",
    "الماي مقطوع بـ{place} من {when}", "امتحان {subject} {when} جان صعب",
    "النت ضعيف كلش {when}", "المولدة ما اشتغلت {when} والجو نار", "سعر {food} صار {n} الاف",
    "الدولار ارتفع {when} ببورصة الكفاح", "مباراة {team} و{team} الليلة الساعة {hour}",
    "هدف رائع من {player} {when}", "المنتخب العراقي لازم يفوز على {team}",
    "الحكم ظلم {team} بمباراة {when}", "{player} افضل لاعب بالدوري هالموسم",
    "مجلس النواب يعقد جلسته يوم {day}", "وزارة الكهرباء تعلن جدول تجهيز جديد لـ{place}",
    "افتتاح جسر جديد في {place}", "الحكومة تعلن عطلة رسمية يوم {day}",
    "طوق امني وتفتيش عند مدخل {place} {when}", "اللهم احفظ العراق واهله من {place} الى {place}",
    "رحم الله شهداءنا في {place}", "الله يشافي {name} وكل مريض", "منو صاحي {when}؟",
    "اكو احد يعرف محل يصلح {thing} بـ{place}؟", "{thing} عطلان من {n} ايام",
    "تحياتي لكل المتابعين من {place}", "{name} خلص الجامعة {when} مبروك",
    "عزيمة عند {name} {when}", "اكلنا {food} بـ{place} {when}", "عرس {name} بـ{place} يوم {day}",
    "الطريق من {place} الى {place} مسدود {when}", "الشمس حارگة {when} والناس بالبيوت",
    "وصلت الرواتب لموظفين {place} لو بعد؟", "الامطار رجعت على {place} {when}",
    "الغبار غطى {place} {when}", "شاي العصر وياكم من {place}", "انتهى دوام {day} الحمد لله",
    "متى تخلص مشكلة الكهرباء بـ{place}؟", "نصيحة لا تطلعون {when} الجو حار",
    "مبروك لفريق {team} الفوز", "صور من كورنيش {place} {when}",
    "البلدية نظفت شارعنا بـ{place} اخيراً", "صار {n} ايام انتظر المعاملة بالدائرة",
    "حملة تبرع بالدم في مستشفى {place} يوم {day}", "{name} نزل اغنية جديدة حلوة كلش",
    "اشتريت {thing} جديد بـ{n}0 الف", "اريد اروح للنجف يوم {day}", "افتتحوا مول جديد بـ{place}",
    "الجامعة اجلت امتحان {subject} الى {day}", "اشتاقيت لـ{food} امي",
    "{name} وصل من {place} {when}", "زيارة لـ{place} مع الاهل يوم {day}",
)
_ARABIC_CLOSERS = (
    "😂", "❤️", "🇮🇶", "🙏", "👍", "🔥", "..", "!!", "؟", "والله العظيم", "شاركوها", "😅", "🌹",
    "ان شاء الله", "الله كريم", "تابعونا", "يا ربي", "💔", "👌", "😴",
)
_ENGLISH_OPENERS = ("Honestly", "Guys", "Today", "Finally", "Lol", "Ugh", "So", "Update:",
                    "Friends", "Breaking:", "Well", "Again")
_ENGLISH_BODIES = (
    "traffic in {place_en} is crazy", "power cut again for {n} hours in {place_en}",
    "great match tonight at {hour}", "good evening from {place_en}",
    "anyone know a good cafe in {place_en}?", "prices in {place_en} are going up again",
    "stay safe everyone in {place_en}", "it is {temp} degrees outside", "exams start in {n} days",
    "beautiful sunset over the Tigris in {place_en}", "new mall opened in {place_en}",
    "internet is so slow for {n} hours now", "who is watching the game at {hour}?",
    "proud of our national team", "weekend plans in {place_en}", "dust storm over {place_en}",
    "waiting {n} hours at the checkpoint near {place_en}", "had the best kebab in {place_en}",
    "my generator died after {n} hours", "flight to {place_en} delayed {n} hours",
)
_ENGLISH_CLOSERS = ("😂", "❤️", "🇮🇶", "!", "...", "lol", "🙏", "#blessed")

ARABIC_DIACRITICS = "\u064e\u064f\u0650\u0651\u0652\u064b\u064c"
TATWEEL = "\u0640"
# Letters that never join the following letter, so a tatweel after them is impossible.
_NON_JOINING_LETTERS = frozenset("اأإآدذرزوؤةءى")


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch of an aware or naive-UTC datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def iso_utc(epoch_seconds: float) -> str:
    """ISO-8601 UTC with a ``Z`` suffix, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch_seconds)))


def parse_iso_utc(text: str) -> datetime:
    """Inverse of :func:`iso_utc`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def local_hour(epoch_seconds: float) -> float:
    """Fractional hour of day in Iraq local time."""
    return ((epoch_seconds + IRAQ_UTC_OFFSET_SECONDS) % DAY_SECONDS) / 3600.0


def next_local_time(after: float, hour: float) -> float:
    """First moment at or after ``after`` whose Iraq local hour is ``hour``."""
    local = after + IRAQ_UTC_OFFSET_SECONDS
    candidate = local - local % DAY_SECONDS + hour * 3600
    if candidate < local:
        candidate += DAY_SECONDS
    return candidate - IRAQ_UTC_OFFSET_SECONDS


def activity_factor(epoch_seconds: float, weekly: bool = True) -> float:
    """Posting intensity relative to the daily mean (diurnal, optionally weekly)."""
    position = local_hour(epoch_seconds) - 0.5  # hourly weights sit at hour centres
    lower = math.floor(position)
    fraction = position - lower
    factor = (HOURLY_ACTIVITY[lower % 24] * (1 - fraction)
              + HOURLY_ACTIVITY[(lower + 1) % 24] * fraction)
    if weekly:
        local_day = int((epoch_seconds + IRAQ_UTC_OFFSET_SECONDS) // DAY_SECONDS)
        factor *= WEEKDAY_ACTIVITY[(local_day + 3) % 7]  # 1970-01-01 was a Thursday
    return factor


def _poisson(rng: random.Random, mean: float) -> int:
    """Poisson draw: exact (Knuth) for small means, normal approximation above 30."""
    if mean <= 0:
        return 0
    if mean < 30:
        limit = math.exp(-mean)
        count, product = 0, rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def _poisson_times(rng: random.Random, begin: float, end: float,
                   rate_per_minute: Callable[[float], float]) -> list[float]:
    """Sorted event times of an inhomogeneous Poisson process, piecewise per minute."""
    times: list[float] = []
    step_start = begin
    while step_start < end:
        step_end = min(step_start + 60.0, end)
        width = step_end - step_start
        count = _poisson(rng, rate_per_minute(step_start + width / 2) * width / 60.0)
        times.extend(step_start + rng.random() * width for _ in range(count))
        step_start = step_end
    times.sort()
    return times


def _pick(rng: random.Random, options: Sequence):
    """``rng.choice`` without its per-call overhead (this is the hot path)."""
    return options[int(rng.random() * len(options))]


def _fill_slots(rng: random.Random, fragment: str) -> str:
    """Replace ``{slot}`` placeholders with random values (each occurrence drawn anew)."""
    if "{" not in fragment:
        return fragment
    pieces = fragment.split("{")
    filled = [pieces[0]]
    for piece in pieces[1:]:
        slot, rest = piece.split("}", 1)
        filled.append(_pick(rng, _SLOT_VALUES[slot]))
        filled.append(rest)
    return "".join(filled)


def _is_arabic_letter(char: str) -> bool:
    return "\u0621" <= char <= "\u064a"


def _drop_underscore(rng: random.Random, body: str) -> str:
    positions = [i for i, char in enumerate(body) if char == "_"]
    if not positions:
        return body
    i = _pick(rng, positions)
    return body[:i] + body[i + 1:]


def _add_underscore(rng: random.Random, body: str) -> str:
    positions = [i for i in range(2, len(body) - 1)
                 if body[i - 1] != "_" and body[i] != "_" and body[i - 1].isalpha()
                 and body[i].isalpha()]
    if not positions:
        return body
    i = _pick(rng, positions)
    return body[:i] + "_" + body[i:]


def _swap_taa_marbuta(rng: random.Random, body: str) -> str:
    if "ة" in body:
        return body.replace("ة", "ه", 1)
    word_final_haa = [i for i, char in enumerate(body)
                      if char == "ه" and (i + 1 == len(body) or body[i + 1] == "_")]
    if not word_final_haa:
        return body
    i = _pick(rng, word_final_haa)
    return body[:i] + "ة" + body[i + 1:]


def _flatten_hamza_alef(rng: random.Random, body: str) -> str:
    for hamza_alef in "أإآ":
        if hamza_alef in body:
            return body.replace(hamza_alef, "ا")
    return body


def _swap_alef_maqsura(rng: random.Random, body: str) -> str:
    if "ى" in body:
        return body.replace("ى", "ي", 1)
    word_final_yaa = [i for i, char in enumerate(body)
                      if char == "ي" and (i + 1 == len(body) or body[i + 1] == "_")]
    if not word_final_yaa:
        return body
    i = _pick(rng, word_final_yaa)
    return body[:i] + "ى" + body[i + 1:]


def _insert_tatweel(rng: random.Random, body: str) -> str:
    positions = [i + 1 for i in range(len(body) - 1)
                 if _is_arabic_letter(body[i]) and body[i] not in _NON_JOINING_LETTERS
                 and _is_arabic_letter(body[i + 1])]
    if not positions:
        return body
    i = _pick(rng, positions)
    return body[:i] + TATWEEL * _pick(rng, (1, 1, 2)) + body[i:]


def _insert_diacritic(rng: random.Random, body: str) -> str:
    positions = [i + 1 for i, char in enumerate(body) if _is_arabic_letter(char)]
    if not positions:
        return body
    i = _pick(rng, positions)
    return body[:i] + _pick(rng, ARABIC_DIACRITICS) + body[i:]


_ORTHOGRAPHIC_EDITS = (_drop_underscore, _add_underscore, _swap_taa_marbuta, _flatten_hamza_alef,
                       _swap_alef_maqsura, _insert_tatweel, _insert_diacritic)
# Underscore slips dominate real tag typos; letter-form swaps next; decoration is rarer.
_ORTHOGRAPHIC_EDIT_WEIGHTS = (4, 2, 3, 3, 2, 1, 1)


def orthographic_variant(tag: str, rng: random.Random) -> str:
    """A differently-spelt form of ``tag`` as people actually type it.

    Applies one edit (drop/add underscore, ة↔ه, أ/إ/آ→ا, ى↔ي, tatweel, diacritic),
    falling back through the others when it does not apply; returns ``tag``
    unchanged only if no edit applies at all.
    """
    body = tag[1:]
    edits = list(_ORTHOGRAPHIC_EDITS)
    weights = list(_ORTHOGRAPHIC_EDIT_WEIGHTS)
    while edits:
        i = rng.choices(range(len(edits)), weights)[0]
        edited = edits.pop(i)(rng, body)
        weights.pop(i)
        if edited != body:
            return "#" + edited
    return tag


@dataclass(slots=True)
class Account:
    """One author: public id and account creation time."""

    id: str
    created_at: float
    created_iso: str

    def age_days(self, at: float) -> float:
        return (at - self.created_at) / DAY_SECONDS


class AccountRegistry:
    """Hands out unique author ids; later accounts get larger ids, as on real platforms."""

    def __init__(self, rng: random.Random, first_number: int = 10000):
        self._rng = rng
        self._next_number = first_number

    def create(self, created_at: float) -> Account:
        self._next_number += 1 + int(self._rng.random() * 40)
        return Account(f"u{self._next_number}", created_at, iso_utc(created_at))

    def create_many(self, created_times: Iterable[float]) -> list[Account]:
        return [self.create(created_at) for created_at in sorted(created_times)]


class Population:
    """Ordinary users: heavy-tailed activity, mostly years-old accounts."""

    OLDEST_ACCOUNT = _epoch(datetime(2008, 1, 1, tzinfo=timezone.utc))

    def __init__(self, rng: random.Random, registry: AccountRegistry, size: int,
                 reference_time: float):
        created_times = []
        while len(created_times) < size:
            if rng.random() < 0.04:  # a few genuinely new users
                age_days = rng.uniform(1, 60)
            else:
                age_days = rng.lognormvariate(math.log(900), 0.7)
            created_at = reference_time - age_days * DAY_SECONDS
            if created_at >= self.OLDEST_ACCOUNT:
                created_times.append(created_at)
        self.accounts = registry.create_many(created_times)
        # Pareto activity: most users post rarely, a few post all day.
        activity = [min(rng.paretovariate(1.2), 400.0) for _ in self.accounts]
        rng.shuffle(activity)
        self._cumulative_activity = list(accumulate(activity))

    def sample(self, rng: random.Random) -> Account:
        """An author, drawn in proportion to activity."""
        i = bisect(self._cumulative_activity, rng.random() * self._cumulative_activity[-1])
        return self.accounts[min(i, len(self.accounts) - 1)]

    def sample_established(self, rng: random.Random, at: float, min_age_days: float = 180) -> Account:
        """An author whose account is at least ``min_age_days`` old at ``at``."""
        for _ in range(20):
            account = self.sample(rng)
            if account.age_days(at) >= min_age_days:
                return account
        return account


class HashtagVocabulary:
    """Background hashtags with Zipf popularity: curated head plus generated long tail."""

    def __init__(self, rng: random.Random):
        long_tail = {f"#{head}_{place}" for head in _TAIL_HEADS for place in _TAIL_PLACES}
        self.tags = list(HEAD_HASHTAGS) + rng.sample(sorted(long_tail), _LONG_TAIL_SIZE)
        self._cumulative = list(accumulate(1.0 / (rank + 1) ** _ZIPF_EXPONENT
                                           for rank in range(len(self.tags))))

    def sample(self, rng: random.Random) -> str:
        return self.tags[bisect(self._cumulative, rng.random() * self._cumulative[-1])]


class _Record:
    """Internal post; ``id`` is assigned at emission so reposts can reference it."""

    __slots__ = ("t", "platform", "author", "text", "lang", "repost_of", "id")

    def __init__(self, t: float, platform: str, author: Account, text: str, lang: str,
                 repost_of: "_Record | None" = None):
        self.t = t
        self.platform = platform
        self.author = author
        self.text = text
        self.lang = lang
        self.repost_of = repost_of
        self.id: str | None = None

    def repost(self, t: float, author: Account) -> "_Record":
        return _Record(t, self.platform, author, self.text, self.lang, self)


def _choose_platform(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(tuple(shares), tuple(shares.values()))[0]


def _join_text(rng: random.Random, words: str, hashtags: Sequence[str]) -> str:
    """Put hashtags mostly after the text, sometimes before it."""
    if not hashtags:
        return words
    tags = " ".join(hashtags)
    return f"{tags} {words}" if rng.random() < 0.2 else f"{words} {tags}"


def _free_text(rng: random.Random, fragments: Sequence[str]) -> str:
    """Text about an event as people word it, each their own way.

    One or two event fragments, often with an everyday clause, opener or
    closer: many strangers posting one bare fragment would look like a template.
    """
    parts = [_fill_slots(rng, _pick(rng, fragments))]
    second = rng.random()
    if second < 0.45:
        parts.append(_fill_slots(rng, _pick(rng, fragments)))
    elif second < 0.75:
        parts.append(_fill_slots(rng, _pick(rng, _ARABIC_BODIES)))
    if len(parts) == 1 or rng.random() < 0.4:
        parts.insert(0, _pick(rng, _ARABIC_OPENERS))
    if rng.random() < 0.5:
        parts.append(_pick(rng, _ARABIC_CLOSERS))
    return " ".join(parts)


@dataclass(frozen=True)
class _Window:
    begin: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.begin <= t < self.end


@dataclass(frozen=True)
class _Outage:
    window: _Window
    platforms: frozenset[str]
    residual: float
    displacement: float


class _Event:
    """Something injected on top of background traffic."""

    def records(self, rng: random.Random, builder: "ScenarioBuilder") -> list[_Record]:
        raise NotImplementedError


@dataclass
class _OrganicAdoption(_Event):
    """A tag adopted along a logistic curve by many distinct established users."""

    tag: str
    onset: float
    end: float
    peak_rate: float
    rise_minutes: float
    fragments: Sequence[str]
    companion_tags: Sequence[str]
    platform_shares: dict[str, float]
    repost_share: float = 0.2
    repeat_share: float = 0.2

    def rate_at(self, t: float) -> float:
        elapsed = (t - self.onset) / 60.0
        # Logistic from ~1 % at onset to the plateau at 2*rise_minutes, then slow decay.
        adoption = 1.0 / (1.0 + math.exp(-(elapsed - self.rise_minutes) * 4.6 / self.rise_minutes))
        fading = math.exp(-max(0.0, elapsed - 2 * self.rise_minutes) / 360.0)
        return self.peak_rate * adoption * fading * activity_factor(t)

    def records(self, rng: random.Random, builder: "ScenarioBuilder") -> list[_Record]:
        records: list[_Record] = []
        originals: list[_Record] = []
        adopters: list[Account] = []
        adopted: set[str] = set()
        for t in _poisson_times(rng, self.onset, self.end, self.rate_at):
            if originals and rng.random() < self.repost_share:
                original = originals[-1 - int(rng.random() * min(len(originals), 200))]
                records.append(original.repost(t, builder.population.sample(rng)))
                continue
            if adopters and rng.random() < self.repeat_share:
                author = _pick(rng, adopters)
            else:
                # A new adopter; heavy posters would otherwise dominate adoption.
                for _ in range(10):
                    author = builder.population.sample_established(rng, self.onset)
                    if author.id not in adopted:
                        break
                adopted.add(author.id)
                adopters.append(author)
            hashtags = [builder.noisy(rng, self.tag)]
            if self.companion_tags and rng.random() < 0.35:
                hashtags.append(_pick(rng, self.companion_tags))
            rng.shuffle(hashtags)
            record = _Record(t, _choose_platform(rng, self.platform_shares), author,
                             _join_text(rng, _free_text(rng, self.fragments), hashtags), "ar")
            originals.append(record)
            records.append(record)
        return records


@dataclass
class _DailyRitual(_Event):
    """A tag posted by regulars in the same local-time window every day."""

    tag: str
    windows: Sequence[_Window]
    peak_rate: float
    fragments: Sequence[str]
    regulars: Sequence[Account]

    def records(self, rng: random.Random, builder: "ScenarioBuilder") -> list[_Record]:
        records = []
        for window in self.windows:
            width = window.end - window.begin

            def rate_at(t: float, window: _Window = window, width: float = width) -> float:
                return self.peak_rate * math.sin(math.pi * (t - window.begin) / width)

            for t in _poisson_times(rng, window.begin, window.end, rate_at):
                author = (_pick(rng, self.regulars) if rng.random() < 0.7
                          else builder.population.sample(rng))
                words = _free_text(rng, self.fragments)
                hashtags = [builder.noisy(rng, self.tag)]
                records.append(_Record(t, _choose_platform(rng, PLATFORM_SHARES), author,
                                       _join_text(rng, words, hashtags), "ar"))
        return records


_TEMPLATE_FILLERS = ("يا رب", "اللهم", "اللهم امين", "يا الله", "امين")
_TEMPLATE_MARKS = ("🤲", "🤲🤲", "!!", "...", "💔", "😢", "🕋")


def _edit_template(rng: random.Random, template: str) -> str:
    """A near-duplicate of ``template``: one or two small word-level edits."""
    words = template.split()
    for _ in range(_pick(rng, (1, 1, 2))):
        edit = rng.random()
        if edit < 0.3:
            words.append(_pick(rng, _TEMPLATE_MARKS))
        elif edit < 0.55:
            words.insert(rng.randrange(len(words) + 1), _pick(rng, _TEMPLATE_FILLERS))
        elif edit < 0.75 and len(words) > 6:
            del words[rng.randrange(1, len(words))]
        else:
            words.append(str(rng.randint(1, 999)))  # spam-filter dodge seen on bot accounts
    return " ".join(words)


@dataclass
class _CounterCampaign(_Event):
    """Young accounts posting templated near-duplicates in synchronized bursts plus repost rings."""

    accounts: Sequence[Account]
    rings: Sequence[Sequence[Account]]
    templates: Sequence[str]
    hashtag_sequences: Sequence[Sequence[str]]
    bursts: Sequence[float]
    burst_spread_seconds: float
    participation: tuple[float, float]
    trickle_rate: float
    window: _Window
    platform: str = "twitter"

    def _post(self, rng: random.Random, t: float, account: Account, template_index: int) -> _Record:
        words = _edit_template(rng, self.templates[template_index])
        # Copy-pasted hashtag block: identical sequence, no orthographic noise.
        text = f"{words} {' '.join(self.hashtag_sequences[template_index])}"
        return _Record(t, self.platform, account, text, "ar")

    def records(self, rng: random.Random, builder: "ScenarioBuilder") -> list[_Record]:
        records: list[_Record] = []
        ring_of = {account.id: ring for ring in self.rings for account in ring}
        for burst_number, burst in enumerate(self.bursts):
            main_template = burst_number % len(self.templates)
            share = rng.uniform(*self.participation)
            participants = rng.sample(list(self.accounts), max(2, int(share * len(self.accounts))))
            burst_posts: dict[str, _Record] = {}
            for account in participants:
                template = (main_template if rng.random() < 0.8
                            else rng.randrange(len(self.templates)))
                t = burst + rng.random() * self.burst_spread_seconds
                burst_posts[account.id] = self._post(rng, t, account, template)
            records.extend(burst_posts.values())
            # Ring members amplify each other's burst posts minutes later.
            for account in participants:
                if rng.random() >= 0.7:
                    continue
                mates = [mate for mate in ring_of[account.id]
                         if mate.id != account.id and mate.id in burst_posts]
                for mate in rng.sample(mates, min(len(mates), _pick(rng, (1, 2, 3)))):
                    t = burst + self.burst_spread_seconds + rng.uniform(20, 240)
                    records.append(burst_posts[mate.id].repost(t, account))
        for t in _poisson_times(rng, self.window.begin, self.window.end,
                                lambda _t: self.trickle_rate):
            records.append(self._post(rng, t, _pick(rng, self.accounts),
                                      rng.randrange(len(self.templates))))
        return records


@dataclass(frozen=True)
class VariantGroup:
    """An official hashtag and the variants that split its volume.

    ``public_weights`` and ``office_weights`` give, for ``(official, *variants)``,
    how often ordinary users and media offices pick each form.
    """

    official: str
    variants: tuple[str, ...]
    public_weights: tuple[float, ...]
    office_weights: tuple[float, ...]
    presence: float  # share of event posts that mention this group

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.official, *self.variants)


@dataclass
class _Fragmentation(_Event):
    """Coverage of one occasion split across several hashtags of each variant group."""

    groups: Sequence[VariantGroup]
    window: _Window
    peak_rate: float
    fragments: Sequence[str]
    media_offices: Sequence[Account]
    official_accounts: Sequence[Account]
    politicians: Sequence[Account]
    role_shares: dict[str, float]

    def rate_at(self, t: float) -> float:
        phase = (t - self.window.begin) / (self.window.end - self.window.begin)
        # Fast rise on opening day, long tail after the closing statement.
        return self.peak_rate * (min(1.0, phase * 6) * math.exp(-1.6 * phase))

    def records(self, rng: random.Random, builder: "ScenarioBuilder") -> list[_Record]:
        records = []
        roles = tuple(self.role_shares)
        role_weights = tuple(self.role_shares.values())
        for t in _poisson_times(rng, self.window.begin, self.window.end, self.rate_at):
            role = rng.choices(roles, role_weights)[0]
            if role == "office":
                author = _pick(rng, self.media_offices)
            elif role == "official":
                author = _pick(rng, self.official_accounts)
            elif role == "politician":
                author = _pick(rng, self.politicians)
            else:
                author = builder.population.sample(rng)
            chosen_groups = [group for group in self.groups if rng.random() < group.presence]
            if not chosen_groups:
                chosen_groups = [_pick(rng, self.groups)]
            hashtags = []
            for group in chosen_groups:
                if role == "official":
                    tag = group.official
                else:
                    weights = group.office_weights if role == "office" else group.public_weights
                    tag = rng.choices(group.tags, weights)[0]
                hashtags.append(builder.noisy(rng, tag) if role == "public" else tag)
            words = _free_text(rng, self.fragments)
            platform = "twitter" if role != "public" else _choose_platform(
                rng, {"twitter": 0.55, "facebook": 0.35, "instagram": 0.05, "telegram": 0.05})
            records.append(_Record(t, platform, author, _join_text(rng, words, hashtags), "ar"))
        return records

    def expected_official_share(self, group: VariantGroup) -> float:
        """Expected share of the exact official tag among the group's tag uses (before noise)."""
        official_by_role = {
            "official": 1.0,
            "office": group.office_weights[0] / sum(group.office_weights),
            "politician": group.public_weights[0] / sum(group.public_weights),
            "public": group.public_weights[0] / sum(group.public_weights),
        }
        return sum(share * official_by_role[role] for role, share in self.role_shares.items())


class Scenario:
    """A named, labelled, replayable stream of posts.

    ``posts`` regenerates the identical stream (sorted by ``created_at``) on each
    access; ``labels`` is the ground truth, sorted by onset.
    """

    def __init__(self, name: str, seed: int, start: datetime, end: datetime,
                 labels: list[dict], post_source: Callable[[], Iterator[dict]]):
        self.name = name
        self.seed = seed
        self.start = start
        self.end = end
        self.labels = labels
        self._post_source = post_source

    @property
    def posts(self) -> Iterator[dict]:
        return self._post_source()

    def __iter__(self) -> Iterator[dict]:
        return self._post_source()

    def __repr__(self) -> str:
        return (f"Scenario({self.name!r}, seed={self.seed}, {iso_utc(self.start.timestamp())}"
                f"..{iso_utc(self.end.timestamp())}, {len(self.labels)} labels)")


class ScenarioBuilder:
    """Compose background traffic and injected events into a :class:`Scenario`.

    ``rate`` is posts per minute, over all platforms, at the diurnal mean.
    Event methods return the label(s) they add; ``build()`` freezes the plan.
    """

    def __init__(self, *, seed: int, start: datetime, hours: float, rate: float = 80.0,
                 weekly: bool = True, noise_rate: float = 0.05, repost_share: float = 0.12,
                 population_size: int | None = None):
        self.seed = seed
        self.start = _epoch(start)
        self.end = self.start + hours * 3600
        self.rate = rate
        self.weekly = weekly
        self.noise_rate = noise_rate
        self.repost_share = repost_share
        self._plan_rng = random.Random(f"{seed}:plan")
        self.registry = AccountRegistry(random.Random(f"{seed}:registry"))
        if population_size is None:
            population_size = int(min(60000, max(2000, rate * 250)))
        self.population = Population(random.Random(f"{seed}:population"), self.registry,
                                     population_size, self.start)
        self.vocabulary = HashtagVocabulary(random.Random(f"{seed}:vocabulary"))
        self._events: list[_Event] = []
        self._outages: list[_Outage] = []
        self._ingest_gaps: list[_Window] = []
        self.labels: list[dict] = []

    def at(self, hours_after_start: float) -> float:
        """Epoch seconds ``hours_after_start`` into the scenario."""
        return self.start + hours_after_start * 3600

    def noisy(self, rng: random.Random, tag: str) -> str:
        """``tag`` as typed: an orthographic variant with probability ``noise_rate``."""
        return orthographic_variant(tag, rng) if rng.random() < self.noise_rate else tag

    def _label(self, kind: str, subject: str, window: _Window, **details) -> dict:
        label = {"kind": kind, "subject": subject, "onset": iso_utc(window.begin),
                 "end": iso_utc(window.end), **details}
        self.labels.append(label)
        return label

    # --- events -----------------------------------------------------------------

    def organic_emerging(self, tag: str, onset: float, *, hours: float = 8.0,
                         peak_rate: float | None = None, rise_minutes: float = 50.0,
                         fragments: Sequence[str], companion_tags: Sequence[str] = (),
                         platform_shares: dict[str, float] | None = None) -> dict:
        """A brand-new tag spreading organically along an S-curve from ``onset``."""
        window = _Window(onset, min(self.end, onset + hours * 3600))
        peak_rate = self.rate * 0.12 if peak_rate is None else peak_rate
        shares = platform_shares or {"twitter": 0.45, "facebook": 0.35, "instagram": 0.1,
                                     "telegram": 0.1}
        self._events.append(_OrganicAdoption(tag, window.begin, window.end, peak_rate,
                                             rise_minutes, fragments, companion_tags, shares))
        return self._label("emerging", tag, window, organic=True, peak_rate_per_min=peak_rate,
                           midpoint=iso_utc(onset + rise_minutes * 60),
                           platforms=sorted(shares))

    def morning_periodic(self, tag: str, first_day: float, *, days: int = 3,
                         begin_hour: float = 6.0, end_hour: float = 9.0,
                         peak_rate: float | None = None, regulars: int = 150) -> dict:
        """``tag`` every day between local ``begin_hour`` and ``end_hour`` for ``days`` days."""
        first_begin = next_local_time(first_day, begin_hour)
        windows = [_Window(first_begin + day * DAY_SECONDS,
                           first_begin + day * DAY_SECONDS + (end_hour - begin_hour) * 3600)
                   for day in range(days)]
        peak_rate = self.rate * 0.1 if peak_rate is None else peak_rate
        regular_accounts = [self.population.sample_established(self._plan_rng, first_begin)
                            for _ in range(regulars)]
        self._events.append(_DailyRitual(tag, windows, peak_rate, _MORNING_FRAGMENTS,
                                         regular_accounts))
        return self._label(
            "periodic", tag, _Window(windows[0].begin, windows[-1].end),
            period="daily", local_window=[f"{begin_hour:05.2f}", f"{end_hour:05.2f}"],
            windows=[[iso_utc(w.begin), iso_utc(w.end)] for w in windows],
            # A detector with no history may flag the first morning, never the later ones.
            emerging_allowed_until=iso_utc(windows[0].end))

    def counter_campaign(self, hostile_tag: str, watched_tag: str, onset: float, *,
                         hours: float = 4.0, accounts: int = 300,
                         created_days_before: tuple[float, float] = (2.0, 10.0),
                         burst_every_minutes: float = 15.0, burst_spread_seconds: float = 20.0,
                         participation: tuple[float, float] = (0.4, 0.8),
                         ring_size: int = 10, trickle_rate: float = 1.0,
                         templates: Sequence[str] | None = None,
                         hashtag_sequences: Sequence[Sequence[str]] | None = None) -> dict:
        """A coordinated push of ``hostile_tag`` against ``watched_tag`` by fresh accounts."""
        rng = self._plan_rng
        window = _Window(onset, min(self.end, onset + hours * 3600))
        # Accounts are made in a few batches, days before the push.
        batch_times = [onset - rng.uniform(*created_days_before) * DAY_SECONDS for _ in range(4)]
        campaign_accounts = self.registry.create_many(
            _pick(rng, batch_times) + rng.uniform(0, 3 * 3600) for _ in range(accounts))
        shuffled = list(campaign_accounts)
        rng.shuffle(shuffled)
        rings = [shuffled[i:i + ring_size] for i in range(0, len(shuffled), ring_size)]
        templates = list(templates or _CAMPAIGN_TEMPLATES)
        if hashtag_sequences is None:
            hashtag_sequences = [(hostile_tag, watched_tag), (hostile_tag, "#الفلوجة"),
                                 (watched_tag, hostile_tag), (hostile_tag, watched_tag, "#العراق")]
        sequences = [tuple(hashtag_sequences[i % len(hashtag_sequences)])
                     for i in range(len(templates))]
        bursts = []
        t = onset + rng.uniform(0, 120)
        while t < window.end - burst_spread_seconds:
            bursts.append(t)
            t += burst_every_minutes * 60 * rng.uniform(0.7, 1.3)
        self._events.append(_CounterCampaign(campaign_accounts, rings, templates, sequences,
                                             bursts, burst_spread_seconds, participation,
                                             trickle_rate, window))
        return self._label(
            "counter_campaign", hostile_tag, window, target=watched_tag, platform="twitter",
            accounts=[account.id for account in campaign_accounts],
            accounts_created=[iso_utc(campaign_accounts[0].created_at),
                              iso_utc(campaign_accounts[-1].created_at)],
            templates=templates, hashtag_sequences=[list(seq) for seq in sequences],
            bursts=[iso_utc(burst) for burst in bursts],
            repost_rings=[[account.id for account in ring] for ring in rings])

    def platform_outage(self, onset: float, *, hours: float = 3.0,
                        platforms: Sequence[str] = ("facebook", "instagram"),
                        residual: float = 0.03, displacement: float = 0.35) -> list[dict]:
        """``platforms`` fall to ``residual`` of normal; the others gain ``displacement``."""
        window = _Window(onset, min(self.end, onset + hours * 3600))
        self._outages.append(_Outage(window, frozenset(platforms), residual, displacement))
        displaced_to = sorted(set(PLATFORMS) - set(platforms))
        return [self._label("outage", platform, window, residual_share=residual,
                            displaced_to=displaced_to, displacement=displacement)
                for platform in platforms]

    def ingest_gap(self, onset: float, *, minutes: float = 12.0) -> dict:
        """Our ingest stalls: no post from any platform inside the window."""
        window = _Window(onset, min(self.end, onset + minutes * 60))
        self._ingest_gaps.append(window)
        return self._label("ingest_stall", "*", window, platforms=list(PLATFORMS))

    def fragmentation(self, onset: float, *, hours: float = 10.0,
                      groups: Sequence[VariantGroup] | None = None,
                      peak_rate: float | None = None, media_offices: int = 6,
                      politicians: int = 40) -> list[dict]:
        """Coverage of an occasion scattered over variant tags, led by media offices."""
        rng = self._plan_rng
        window = _Window(onset, min(self.end, onset + hours * 3600))
        groups = list(groups or SUMMIT_VARIANT_GROUPS)
        offices = self.registry.create_many(
            onset - rng.uniform(900, 3000) * DAY_SECONDS for _ in range(media_offices))
        official_accounts = self.registry.create_many(
            [onset - rng.uniform(1500, 2500) * DAY_SECONDS])
        politician_accounts = [self.population.sample_established(rng, onset)
                               for _ in range(politicians)]
        event = _Fragmentation(groups, window,
                               self.rate * 0.2 if peak_rate is None else peak_rate,
                               _SUMMIT_FRAGMENTS, offices, official_accounts,
                               politician_accounts,
                               {"office": 0.22, "official": 0.02, "politician": 0.16,
                                "public": 0.60})
        self._events.append(event)
        return [self._label("fragmentation", group.official, window,
                            variants=list(group.variants),
                            official_share=round(event.expected_official_share(group), 3),
                            media_offices=[account.id for account in offices],
                            official_accounts=[account.id for account in official_accounts])
                for group in groups]

    # --- generation ---------------------------------------------------------------

    def _platform_weights(self, t: float) -> list[float]:
        weights = [PLATFORM_SHARES[platform] for platform in PLATFORMS]
        for outage in self._outages:
            if t in outage.window:
                # Down platforms keep their weight and are thinned on emission, so
                # event posts on them collapse too; the rest absorb displaced users.
                weights = [weight * (1 + outage.displacement)
                           if platform not in outage.platforms else weight
                           for weight, platform in zip(weights, PLATFORMS)]
        return weights

    def _background_text(self, rng: random.Random, lang: str) -> str:
        # Mostly two clauses plus openers/closers: short one-clause posts would
        # collide across strangers and look like templates to near-dup detection.
        if lang == "en":
            bodies, openers, closers = _ENGLISH_BODIES, _ENGLISH_OPENERS, _ENGLISH_CLOSERS
        else:
            bodies, openers, closers = _ARABIC_BODIES, _ARABIC_OPENERS, _ARABIC_CLOSERS
        parts = [_fill_slots(rng, _pick(rng, bodies))]
        if rng.random() < 0.75:
            parts.append(_fill_slots(rng, _pick(rng, bodies)))
        if len(parts) == 1 or rng.random() < 0.45:
            parts.insert(0, _pick(rng, openers))
        if rng.random() < 0.5:
            parts.append(_pick(rng, closers))
        words = " ".join(parts)
        count = bisect(_HASHTAG_COUNT_CUMULATIVE, rng.random())
        hashtags = []
        for _ in range(count):
            tag = self.vocabulary.sample(rng)
            if tag not in hashtags:
                hashtags.append(tag)
        return _join_text(rng, words, [self.noisy(rng, tag) for tag in hashtags])

    def _background(self, rng: random.Random) -> Iterator[_Record]:
        recent_by_platform = {platform: deque(maxlen=400) for platform in PLATFORMS}
        minute = self.start
        while minute < self.end:
            width = min(60.0, self.end - minute)
            weights = self._platform_weights(minute + width / 2)
            cumulative = list(accumulate(weights))
            mean = self.rate * activity_factor(minute + width / 2, self.weekly) * cumulative[-1]
            times = sorted(minute + rng.random() * width
                           for _ in range(_poisson(rng, mean * width / 60)))
            for t in times:
                platform = PLATFORMS[bisect(cumulative, rng.random() * cumulative[-1])]
                author = self.population.sample(rng)
                recent = recent_by_platform[platform]
                if recent and rng.random() < self.repost_share:
                    original = recent[int(rng.random() * len(recent))]
                    if original.author is not author and original.t < t:
                        yield original.repost(t, author)
                        continue
                lang = "en" if rng.random() < ENGLISH_SHARES[platform] else "ar"
                record = _Record(t, platform, author, self._background_text(rng, lang), lang)
                recent.append(record)
                yield record
            minute += width

    def _suppressed_by_outage(self, rng: random.Random, record: _Record) -> bool:
        return any(record.t in outage.window and record.platform in outage.platforms
                   and rng.random() >= outage.residual for outage in self._outages)

    def _iter_posts(self) -> Iterator[dict]:
        streams: list[Iterable[_Record]] = [self._background(random.Random(f"{self.seed}:background"))]
        for index, event in enumerate(self._events):
            records = event.records(random.Random(f"{self.seed}:event:{index}"), self)
            streams.append(sorted((r for r in records if self.start <= r.t < self.end),
                                  key=attrgetter("t")))
        outage_rng = random.Random(f"{self.seed}:outage")
        sequence = 0
        last_second, last_iso = -1, ""
        for record in heapq.merge(*streams, key=attrgetter("t")):
            if self._outages and self._suppressed_by_outage(outage_rng, record):
                continue  # never posted, so never gets an id
            original = record.repost_of
            if original is not None and original.id is None:
                continue  # its original was never posted
            sequence += 1
            record.id = f"{ID_PREFIXES[record.platform]}-{sequence:06d}"
            # Ids are platform-side: an ingest stall leaves holes in the sequence.
            if any(record.t in gap for gap in self._ingest_gaps):
                continue
            second = int(record.t)
            if second != last_second:
                last_second, last_iso = second, iso_utc(second)
            post = {"id": record.id, "platform": record.platform, "author": record.author.id}
            if record.platform not in PLATFORMS_WITHOUT_ACCOUNT_AGE:
                post["author_created_at"] = record.author.created_iso
            post["created_at"] = last_iso
            post["text"] = record.text
            post["lang"] = record.lang
            if original is not None:
                post["repost_of"] = original.id
            yield post

    def build(self, name: str) -> Scenario:
        """Freeze the plan into a replayable :class:`Scenario`."""
        labels = sorted(self.labels, key=lambda label: (label["onset"], label["kind"]))
        return Scenario(name, self.seed,
                        datetime.fromtimestamp(self.start, timezone.utc),
                        datetime.fromtimestamp(self.end, timezone.utc),
                        labels, self._iter_posts)


def write_jsonl(posts: Iterable[dict] | Scenario, path: str | Path) -> int:
    """Write posts one JSON object per line (UTF-8, Arabic unescaped); return the count."""
    if isinstance(posts, Scenario):
        posts = posts.posts
    count = 0
    with open(path, "wb") as sink:
        for post in posts:
            sink.write(orjson.dumps(post))
            sink.write(b"\n")
            count += 1
    return count


_MORNING_FRAGMENTS = (
    "صباح الخير يا {place}", "صباح الورد والياسمين", "صباحكم سعادة", "صباح النور على الجميع",
    "اللهم صباح خير وبركة", "صباح الخير يا عراق", "صباحكم رضا ونور", "صباح الخير وشاي الصبح",
    "يوم جديد ورزق جديد صباح الخير", "صباح الخير لكل المتابعين", "صباح الخير من {place}",
    "صباحكم محبة يا اهل {place}", "صباح الخير والدوام ينتظرنا",
)

_CAMPAIGN_TEMPLATES = (
    "اللهم انصر اخواننا المستضعفين في الفلوجة وفك حصارهم",
    "ادعوا لاهلنا في الفلوجة فهم في امس الحاجة للدعاء في هذه الساعات",
    "يا رب كن مع اهل الفلوجة ولا تكن عليهم واحفظ نساءهم واطفالهم",
    "لا تنسوا الفلوجة من دعائكم فالحصار اشتد والناس بلا طعام",
)

_SUMMIT_FRAGMENTS = (
    "انطلاق اعمال مؤتمر رؤساء برلمانات دول جوار العراق في بغداد",
    "رئيس مجلس النواب يستقبل الوفود المشاركة في المؤتمر",
    "بغداد تستضيف القمة البرلمانية بمشاركة دول الجوار",
    "كلمة رئيس مجلس النواب في الجلسة الافتتاحية للمؤتمر",
    "البيان الختامي يؤكد دعم امن واستقرار العراق",
    "وصول الوفود البرلمانية الى مطار بغداد الدولي",
    "العراق يستعيد دوره الاقليمي من خلال هذه القمة",
    "لقاءات ثنائية على هامش القمة في بغداد",
    "المؤتمر يناقش ملفات المياه والاقتصاد ومكافحة الارهاب",
    "صور من قاعة المؤتمر في مبنى مجلس النواب",
    "تغطية مباشرة لاعمال القمة من {place}",
    "المشاركون يشيدون بتنظيم المؤتمر في بغداد",
    "مؤتمر صحفي مشترك في ختام اعمال القمة",
)

# The Baghdad parliamentary summit: the official tag was split by the
# parliament's own media office, MPs and the public (Digital Media Center report).
SUMMIT_VARIANT_GROUPS = (
    VariantGroup(
        official="#قمةبغداد_استقراروتنمية",
        variants=("#قمة_بغداد", "#قمة_بغداد_استقرار_وتنمية", "#قمةبغداد_استقراروبناء"),
        public_weights=(0.20, 0.45, 0.22, 0.13),
        office_weights=(0.06, 0.34, 0.30, 0.30),
        presence=0.75),
    VariantGroup(
        official="#مؤتمر_برلمانات_دول_جوار_العراق",
        variants=("#برلمانات_دول_جوار_العراق", "#مؤتمر_رؤساء_برلمانات_دول_جوار_العراق"),
        public_weights=(0.25, 0.45, 0.30),
        office_weights=(0.05, 0.50, 0.45),
        presence=0.45),
)
