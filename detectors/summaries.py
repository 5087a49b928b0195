"""The summary stage: cross-tag detectors over per-minute tag summaries.

Tag summaries (``TagMinute``) arrive from every tag partition.  This stage
buffers them by minute, closes a minute once every tag partition has closed it
(``MinuteGate``), and hands that minute's summaries — sorted by
key, so arrival order never matters — to the detectors that need several tags
at once: variant grouping / fragmentation, counter-campaign decisions (with
hijack targeting), and the "trending now" board.

>>> from detectors.records import TagMinute
>>> stage = SummaryStage()
>>> stage.on_batch(0, 60.0, [TagMinute("k", "#k", 0.0, 30, 25, 1.0, 9.0, True, True)])
[]
>>> _ = stage.flush()
>>> [row["subject"] for row in stage.trending.top(5)]
['#k']
"""
from __future__ import annotations

from collections import OrderedDict, deque

from detectors.alerts import Alert
from detectors.campaign import CampaignDetector
from detectors.records import TagMinute, format_time
from detectors.variants import VariantGrouper
from detectors.windows import MINUTE, GatedMinutes, GatedStage

SPARK_MINUTES = 30


class TrendingBoard:
    """Top tags by current significance, with a short authors-per-minute sparkline.

    Only the latest closed minute's summaries rank; a tag that fell silent
    drops off.  Sparklines are kept for at most ``capacity`` tags."""

    def __init__(self, capacity: int = 200):
        self.capacity = capacity
        self.minute: float | None = None
        self._ranked: list[TagMinute] = []
        # least recently updated first, so the stale ones are found at the front
        self.sparks: OrderedDict[str, deque] = OrderedDict()

    def update(self, minute: float, summaries: list[TagMinute]) -> None:
        ranked = sorted(summaries, key=lambda s: (-s.score, -s.authors, s.key))[: self.capacity]
        sparks = self.sparks
        for s in ranked:
            spark = sparks.get(s.key)
            if spark is None:
                spark = sparks[s.key] = deque(maxlen=SPARK_MINUTES)
            else:
                sparks.move_to_end(s.key)
            spark.append([minute, s.authors])
        stale = minute - SPARK_MINUTES * MINUTE
        while sparks and next(iter(sparks.values()))[-1][0] < stale:
            sparks.popitem(last=False)
        self.minute = minute
        self._ranked = ranked

    @property
    def rows(self) -> list[dict]:
        return [_row(s) for s in self._ranked]

    def top(self, n: int = 10) -> list[dict]:
        out: list[dict] = []
        if self.minute is None:
            return out
        # rows are built when the board is read, not every minute
        for rank, row in enumerate(map(_row, self._ranked[:n]), 1):
            spark = self.sparks.get(row["key"], ())
            out.append({"rank": rank, **row, "minute": format_time(self.minute),
                        "sparkline": [v for _, v in spark]})
        return out


class SummaryStage(GatedStage):
    def __init__(self, variants: VariantGrouper | None = None,
                 campaigns: CampaignDetector | None = None, sources: int = 1):
        self.variants = variants or VariantGrouper()
        self.campaigns = campaigns or CampaignDetector()
        self.trending = TrendingBoard()
        self.minutes = GatedMinutes(sources, key=_key_of)

    def close_until(self, last_minute: float) -> list[Alert]:
        alerts: list[Alert] = []
        for minute, summaries in self.minutes.release(last_minute):
            alerts.extend(self.campaigns.on_minute(minute, summaries))
            alerts.extend(self.variants.on_minute(minute, summaries))
            if summaries:
                self.trending.update(minute, summaries)
        return alerts

    def to_state(self) -> dict:
        return {"variants": self.variants.to_state(), "campaigns": self.campaigns.to_state(),
                "minutes": self.minutes.to_state(lambda s: s.to_wire().decode())}

    @classmethod
    def from_state(cls, d: dict) -> "SummaryStage":
        stage = cls(VariantGrouper.from_state(d["variants"]), CampaignDetector.from_state(d["campaigns"]))
        stage.minutes = GatedMinutes.from_state(
            d["minutes"], lambda raw: TagMinute.from_wire(raw.encode()), _key_of)
        return stage


def _row(s: TagMinute) -> dict:
    return {"key": s.key, "subject": s.display, "score": s.score, "observed": s.authors,
            "expected": s.expected, "posts": s.posts, "firing": s.firing}


def _key_of(summary: TagMinute) -> str:
    return summary.key
