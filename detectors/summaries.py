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

import math
from collections import deque

from detectors.alerts import Alert
from detectors.campaign import CampaignDetector
from detectors.records import TagMinute, format_time
from detectors.variants import VariantGrouper
from detectors.windows import MINUTE, MinuteGate

SPARK_MINUTES = 30


class TrendingBoard:
    """Top tags by current significance, with a short authors-per-minute sparkline.

    Only the latest closed minute's summaries rank; a tag that fell silent
    drops off.  Sparklines are kept for at most ``capacity`` tags."""

    def __init__(self, capacity: int = 200):
        self.capacity = capacity
        self.minute: float | None = None
        self.rows: list[dict] = []
        self.sparks: dict[str, deque] = {}

    def update(self, minute: float, summaries: list[TagMinute]) -> None:
        ranked = sorted(summaries, key=lambda s: (-s.score, -s.authors, s.key))[: self.capacity]
        seen = set()
        for s in ranked:
            spark = self.sparks.get(s.key)
            if spark is None:
                spark = self.sparks[s.key] = deque(maxlen=SPARK_MINUTES)
            spark.append([minute, s.authors])
            seen.add(s.key)
        for key in [k for k in self.sparks if k not in seen and self.sparks[k][-1][0] < minute - SPARK_MINUTES * MINUTE]:
            del self.sparks[key]
        self.minute = minute
        self.rows = [
            {"key": s.key, "subject": s.display, "score": s.score, "observed": s.authors,
             "expected": s.expected, "posts": s.posts, "firing": s.firing}
            for s in ranked
        ]

    def top(self, n: int = 10) -> list[dict]:
        out = []
        for rank, row in enumerate(self.rows[:n], 1):
            spark = self.sparks.get(row["key"], ())
            out.append({"rank": rank, **row, "minute": format_time(self.minute),
                        "sparkline": [v for _, v in spark]})
        return out


class SummaryStage:
    def __init__(self, variants: VariantGrouper | None = None,
                 campaigns: CampaignDetector | None = None, sources: int = 1):
        self.variants = variants or VariantGrouper()
        self.campaigns = campaigns or CampaignDetector()
        self.trending = TrendingBoard()
        self.gate = MinuteGate(sources)
        self.buffer: dict[float, dict[str, TagMinute]] = {}
        self.next_minute: float | None = None
        self.max_minute = -math.inf
        self.late_summaries = 0

    def on_batch(self, source: int, progress: float, summaries: list[TagMinute]) -> list[Alert]:
        """One tag partition's closed-minute summaries and its progress."""
        for summary in summaries:
            if self.next_minute is not None and summary.minute < self.next_minute:
                self.late_summaries += 1
                continue
            self.buffer.setdefault(summary.minute, {})[summary.key] = summary
            self.max_minute = max(self.max_minute, summary.minute)
        self.gate.report(source, progress)
        return self.close_until(self.gate.ready_before() - MINUTE)

    def close_until(self, last_minute: float) -> list[Alert]:
        alerts: list[Alert] = []
        if not self.buffer:
            return alerts
        minute = self.next_minute if self.next_minute is not None else min(self.buffer)
        while minute <= last_minute:
            summaries = [s for _, s in sorted(self.buffer.pop(minute, {}).items())]
            alerts.extend(self.campaigns.on_minute(minute, summaries))
            alerts.extend(self.variants.on_minute(minute, summaries))
            if summaries:
                self.trending.update(minute, summaries)
            minute += MINUTE
            self.next_minute = minute
            if not self.buffer:
                break
        return alerts

    def flush(self) -> list[Alert]:
        return self.close_until(self.max_minute) if self.max_minute > -math.inf else []

    def to_state(self) -> dict:
        return {"variants": self.variants.to_state(), "campaigns": self.campaigns.to_state(),
                "gate": self.gate.to_state(),
                "buffer": [[s.to_wire().decode() for s in by_key.values()] for by_key in self.buffer.values()],
                "next_minute": self.next_minute,
                "max_minute": None if self.max_minute == -math.inf else self.max_minute}

    @classmethod
    def from_state(cls, d: dict) -> "SummaryStage":
        stage = cls(VariantGrouper.from_state(d["variants"]), CampaignDetector.from_state(d["campaigns"]))
        stage.gate = MinuteGate.from_state(d["gate"])
        for wires in d["buffer"]:
            for raw in wires:
                summary = TagMinute.from_wire(raw.encode())
                stage.buffer.setdefault(summary.minute, {})[summary.key] = summary
        stage.next_minute = d["next_minute"]
        stage.max_minute = -math.inf if d["max_minute"] is None else d["max_minute"]
        return stage
