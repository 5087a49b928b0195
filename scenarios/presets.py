"""Named, labelled scenarios built from the real cases Rasd was made for.

Every preset takes ``seed``, ``start`` (UTC datetime), ``rate`` (posts per
minute over all platforms at the diurnal mean) and, for event presets,
``warmup_hours`` of ordinary traffic before the first onset so detectors can
learn a baseline. ``PRESETS`` maps preset names to these functions.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from scenarios.generator import (
    DAY_SECONDS,
    Scenario,
    ScenarioBuilder,
    next_local_time,
)

DEFAULT_SEED = 2016
DEFAULT_START = datetime(2016, 5, 22, tzinfo=timezone.utc)
DEFAULT_RATE = 80.0

WATCHED_TAG = "#الفلوجة_تتحرر"
# Spelt with a tatweel instead of an underscore, exactly as ISIS supporters launched it.
HOSTILE_TAG = "#انصروناـبالدعاء"
ORGANIC_SURGE_TAG = "#الفلوجة_تغسل_وجهها"
MORNING_TAG = "#صباح_الخير"

FALLUJAH_FRAGMENTS = (
    "كلنا يد واحدة لتحرير الفلوجة", "تحية لابطال القوات الامنية والحشد في الفلوجة",
    "النصر قريب باذن الله والفلوجة ترجع لاهلها", "انطلاق عمليات تحرير الفلوجة",
    "قواتنا تتقدم في محيط الفلوجة", "الله يحفظ ابطالنا في الفلوجة",
    "العراقيون يساندون قواتهم في معركة الفلوجة", "الفلوجة عراقية وستبقى عراقية",
    "ساعات وتعود الفلوجة لحضن الوطن", "دعم قواتنا الامنية واجب على كل عراقي",
    "تقدم جديد للقوات العراقية في الكرمة", "تحرير مناطق جديدة جنوب الفلوجة",
    "من {place} نقول الله ينصركم يا ابطال", "اهل {place} مع ابطال الفلوجة",
    "انقاذ المدنيين في الفلوجة اولوية قواتنا", "داعش ينهار في الفلوجة",
    "كل الدعم لخلية الاعلام الحربي ونقل الحقيقة", "فرحة العراقيين بالانتصارات في الفلوجة",
)
FALLUJAH_COMPANION_TAGS = ("#العراق", "#خلية_الدعم_الاعلامي", "#الفلوجة_محررين_لامعتدين",
                           "#الحشد_الشعبي")
FALLUJAH_RETURN_FRAGMENTS = (
    "الفلوجة تغسل وجهها من سواد داعش", "اهالي الفلوجة يستقبلون القوات بالفرح",
    "الحياة ترجع لاحياء الفلوجة قريبا", "الفلوجة اجمل بدون داعش",
    "صور العوائل الخارجة من الفلوجة بامان", "مساعدات غذائية للنازحين من الفلوجة",
    "شباب {place} يجمعون تبرعات لنازحي الفلوجة", "الفلوجة ترجع بيضاء مثل ما جانت",
)


def _builder(seed: int, start: datetime, hours: float, rate: float) -> ScenarioBuilder:
    return ScenarioBuilder(seed=seed, start=start, hours=hours, rate=rate)


def quiet_day(*, seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START,
              rate: float = DEFAULT_RATE, hours: float = 24.0) -> Scenario:
    """Ordinary traffic only: nothing should be flagged."""
    return _builder(seed, start, hours, rate).build("quiet_day")


def organic_emerging(*, seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START,
                     rate: float = DEFAULT_RATE, warmup_hours: float = 3.0,
                     event_hours: float = 9.0, peak_rate: float | None = None,
                     rise_minutes: float = 50.0) -> Scenario:
    """``#الفلوجة_تتحرر`` appears at ``start + warmup_hours`` and spreads organically
    (``rise_minutes`` from onset to half its peak rate)."""
    builder = _builder(seed, start, warmup_hours + event_hours, rate)
    builder.organic_emerging(WATCHED_TAG, builder.at(warmup_hours), hours=event_hours,
                             peak_rate=peak_rate, rise_minutes=rise_minutes,
                             fragments=FALLUJAH_FRAGMENTS, companion_tags=FALLUJAH_COMPANION_TAGS)
    return builder.build("organic_emerging")


def morning_periodic(*, seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START,
                     rate: float = DEFAULT_RATE, warmup_hours: float = 3.0,
                     days: int = 3) -> Scenario:
    """``#صباح_الخير`` every morning 06-09 local for ``days`` days; only day 1 may look new."""
    first_morning = next_local_time(start.timestamp() + warmup_hours * 3600, 6.0)
    last_window_end = first_morning + (days - 1) * DAY_SECONDS + 3 * 3600
    hours = (last_window_end - start.timestamp()) / 3600 + 3.0
    builder = _builder(seed, start, hours, rate)
    builder.morning_periodic(MORNING_TAG, first_morning, days=days)
    return builder.build("morning_periodic")


def counter_campaign(*, seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START,
                     rate: float = DEFAULT_RATE, warmup_hours: float = 3.0,
                     accounts: int = 300, organic_surge: bool = True) -> Scenario:
    """ISIS supporters' ``#انصروناـبالدعاء`` pushed against the organic ``#الفلوجة_تتحرر``.

    The watched tag starts organically at the end of warm-up; the campaign starts
    an hour later, and (with ``organic_surge``) a second organic tag surges at
    the same time as the campaign, so a detector must tell the two apart.
    """
    builder = _builder(seed, start, warmup_hours + 7.0, rate)
    watched_onset = builder.at(warmup_hours)
    campaign_onset = watched_onset + 3600
    builder.organic_emerging(WATCHED_TAG, watched_onset, hours=7.0,
                             fragments=FALLUJAH_FRAGMENTS, companion_tags=FALLUJAH_COMPANION_TAGS)
    builder.counter_campaign(HOSTILE_TAG, WATCHED_TAG, campaign_onset, hours=4.0,
                             accounts=accounts)
    if organic_surge:
        builder.organic_emerging(ORGANIC_SURGE_TAG, campaign_onset, hours=5.0, rise_minutes=25.0,
                                 peak_rate=rate * 0.1, fragments=FALLUJAH_RETURN_FRAGMENTS,
                                 companion_tags=(WATCHED_TAG, "#العراق"))
    return builder.build("counter_campaign")


def platform_outage(*, seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START,
                    rate: float = DEFAULT_RATE, warmup_hours: float = 24.0,
                    outage_hours: float = 3.0) -> Scenario:
    """Facebook and Instagram collapse for ``outage_hours``; Twitter and Telegram gain.

    The onset is the first 18:40 Iraq time after warm-up, when the 4 Oct 2021
    Facebook/Instagram/WhatsApp outage began.
    """
    onset = next_local_time(start.timestamp() + warmup_hours * 3600, 18 + 40 / 60)
    hours = (onset - start.timestamp()) / 3600 + outage_hours + 3.0
    builder = _builder(seed, start, hours, rate)
    builder.platform_outage(onset, hours=outage_hours)
    return builder.build("platform_outage")


def ingest_gap(*, seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START,
               rate: float = DEFAULT_RATE, warmup_hours: float = 3.0,
               gap_minutes: float = 12.0) -> Scenario:
    """Our own ingest stalls for ``gap_minutes``: every platform goes silent at once."""
    builder = _builder(seed, start, warmup_hours + 2.0, rate)
    builder.ingest_gap(builder.at(warmup_hours), minutes=gap_minutes)
    return builder.build("ingest_gap")


def fragmentation(*, seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START,
                  rate: float = DEFAULT_RATE, warmup_hours: float = 3.0,
                  event_hours: float = 10.0) -> Scenario:
    """The Baghdad parliamentary summit: the official tag gets under 30 % of its group."""
    builder = _builder(seed, start, warmup_hours + event_hours, rate)
    builder.fragmentation(builder.at(warmup_hours), hours=event_hours)
    return builder.build("fragmentation")


DEMO_START = datetime(2016, 5, 23, 12, tzinfo=timezone.utc)  # 15:00 Iraq time, into the evening peak


def demo(*, seed: int = DEFAULT_SEED, start: datetime = DEMO_START, rate: float = 200.0,
         warmup_hours: float = 2.0) -> Scenario:
    """Compressed product demo: about ``warmup_hours + 5`` hours, ~120k posts at the default rate.

    Timeline after warm-up: ``#الفلوجة_تتحرر`` emerges; an hour later the
    ``#انصروناـبالدعاء`` counter-campaign starts; an hour after that Facebook
    and Instagram go down for 90 minutes; the fragmented summit tags follow.
    """
    builder = _builder(seed, start, warmup_hours + 5.0, rate)
    emerging_onset = builder.at(warmup_hours)
    builder.organic_emerging(WATCHED_TAG, emerging_onset, hours=5.0, rise_minutes=35.0,
                             fragments=FALLUJAH_FRAGMENTS, companion_tags=FALLUJAH_COMPANION_TAGS)
    builder.counter_campaign(HOSTILE_TAG, WATCHED_TAG, emerging_onset + 3600, hours=2.5,
                             accounts=250, burst_every_minutes=10.0)
    builder.platform_outage(emerging_onset + 2 * 3600, hours=1.5)
    builder.fragmentation(emerging_onset + 3 * 3600, hours=2.0, peak_rate=rate * 0.25)
    return builder.build("demo")


PRESETS: dict[str, Callable[..., Scenario]] = {
    "quiet_day": quiet_day,
    "organic_emerging": organic_emerging,
    "morning_periodic": morning_periodic,
    "counter_campaign": counter_campaign,
    "platform_outage": platform_outage,
    "ingest_gap": ingest_gap,
    "fragmentation": fragmentation,
    "demo": demo,
}
