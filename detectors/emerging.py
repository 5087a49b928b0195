"""Emerging-tag detection: is a tag taking off *now*, relative to itself?

Each tag has a ``CountAnomalyModel`` of its **distinct authors per minute**
(one account cannot make a trend), learned online with a daily profile and a
prior for brand-new tags.  A minute scores ``model.score_one``; the tag fires
when the score passes ``fire_score`` *and* at least ``min_authors`` distinct
accounts used it in the minute (three accounts never make a trend, whatever
their score).  While an episode fires the model is frozen (it learns at a tiny
rate) so an ongoing anomaly does not become the baseline.

An episode resolves only after ``resolve_after`` consecutive calm minutes, so a
surge that comes in bursts (a campaign posting every quarter hour) stays one
episode.  Within ``refire_within`` minutes of a resolution the same tag starts
a new episode only on a real new surge: at least ``refire_peak_factor`` times
the previous episode's peak authors per minute, scoring ``warning_score`` or more.

A brand-new tag has no baseline of its own yet, and a per-minute model would
learn its rise as fast as it happens.  So while a tag is *young* (first seen
less than ``young_minutes`` ago) it is also judged on its distinct authors
since birth against a low prior rate: ``new_tag_min_authors`` different
accounts at ``new_tag_min_rate`` per minute or more is a new trend.  This
rule only applies once the stage itself has seen ``warmup_minutes`` of data,
so a cold start does not call every existing tag new.

The open minute is also checked as it fills (``check_partial``): its author
count only grows, so once it is significant the alert need not wait for the
minute to close.

>>> det = EmergingDetector()
>>> state = det.new_state("k", first_seen=0.0, stage_origin=0.0)
>>> det.close_minute(state, 0.0, authors=3, subject="#k") is None
True
>>> det.close_minute(state, 60.0, authors=60, subject="#k").status
'firing'
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from detectors.alerts import Alert, Episode, severity_for
from detectors.volume import CountAnomalyModel
from detectors.windows import KMV, minute_of


@dataclass(slots=True)
class EmergingConfig:
    fire_score: float = 6.0
    min_authors: int = 12
    resolve_score: float = 2.0
    resolve_after: int = 15
    refire_within: float = 120.0
    refire_peak_factor: float = 1.5
    surge_score: float = 3.0
    min_surge_authors: int = 6
    calm_peak_fraction: float = 0.3
    young_minutes: float = 120.0
    warmup_minutes: float = 60.0
    new_tag_min_authors: int = 10
    new_tag_min_rate: float = 1.0
    new_tag_prior_rate: float = 0.1
    warning_score: float = 8.0
    critical_score: float = 16.0
    model: dict = field(default_factory=dict)


@dataclass(slots=True)
class EmergingState:
    model: CountAnomalyModel
    episode: Episode
    score: float = 0.0
    expected: float = 0.0
    first_seen: float | None = None
    judge_as_new: bool = False
    young_authors: KMV | None = None
    peak_authors: float = 0.0
    resolved_at: float | None = None  # end of the last episode, with its peak below

    def to_state(self) -> list:
        return [self.model.to_state(), self.episode.to_state(), self.score, self.expected,
                self.first_seen, self.judge_as_new,
                self.young_authors.hashes if self.young_authors is not None else None, self.peak_authors,
                self.resolved_at]

    @classmethod
    def from_state(cls, state: list) -> "EmergingState":
        model, episode, score, expected, first_seen, judge_as_new, young, peak, resolved_at = state
        return cls(CountAnomalyModel.from_state(model), Episode.from_state(episode), score, expected,
                   first_seen, judge_as_new, KMV(64, young) if young is not None else None, peak,
                   resolved_at)


class EmergingDetector:
    """Scores minutes of one tag against that tag's own baseline."""

    def __init__(self, config: EmergingConfig | None = None):
        self.config = config or EmergingConfig()

    def new_state(self, key: str, first_seen: float, stage_origin: float) -> EmergingState:
        """``stage_origin``: event time the stage started from (for the warm-up)."""
        model = CountAnomalyModel(bin_seconds=60.0, **self.config.model)
        judge_as_new = first_seen - stage_origin >= self.config.warmup_minutes * 60.0
        return EmergingState(model, Episode("emerging", key, fire_after=1,
                                            resolve_after=self.config.resolve_after),
                             first_seen=first_seen, judge_as_new=judge_as_new,
                             young_authors=KMV(64) if judge_as_new else None)

    def check_new_tag(self, state: EmergingState, author: str, at: float, subject: str,
                      evidence: Callable[[], dict] | None = None) -> Alert | None:
        """Judge a young tag on its distinct authors since birth (called per hit)."""
        cfg = self.config
        young, first_seen = state.young_authors, state.first_seen
        if young is None or first_seen is None:
            return None
        age_minutes = (at - first_seen) / 60.0
        if age_minutes > cfg.young_minutes:
            state.young_authors = None
            return None
        before = len(young.hashes)
        young.add(author)
        if state.episode.firing or len(young.hashes) == before:
            return None
        authors = young.estimate()
        minutes = max(age_minutes, 5.0)
        if authors < cfg.new_tag_min_authors or authors / minutes < cfg.new_tag_min_rate:
            return None
        expected = cfg.new_tag_prior_rate * minutes
        score = (authors - expected) / math.sqrt(expected + 1.0)
        severity = severity_for(score, cfg.warning_score, cfg.critical_score)
        summary = (f"new tag {subject} is taking off: {authors:.0f} distinct authors in its first "
                   f"{age_minutes:.0f} min (a new tag typically draws ~{expected:.1f})")
        alert = state.episode.update(at=at, active=True, calm=False, score=score, subject=subject,
                                     observed=authors, expected=expected, summary=summary,
                                     evidence=evidence() if evidence else None,
                                     started_at=first_seen - first_seen % 60.0,
                                     severity=severity)
        state.score, state.expected = score, expected
        state.young_authors = None  # a tag is new only once
        state.peak_authors = 0.0
        return alert

    def _may_fire(self, state: EmergingState, at: float, authors: float, score: float) -> bool:
        """Soon after an episode, only a strong surge well above its peak is a new one."""
        cfg = self.config
        return (state.resolved_at is None or at - state.resolved_at >= cfg.refire_within * 60.0
                or (authors >= cfg.refire_peak_factor * state.peak_authors and score >= cfg.warning_score))

    def is_surging(self, state: EmergingState, authors: float) -> bool:
        return state.episode.firing or (
            state.score >= self.config.surge_score and authors >= self.config.min_surge_authors)

    def check_partial(self, state: EmergingState, minute: float, authors: float, at: float,
                      subject: str, evidence: Callable[[], dict] | None = None) -> Alert | None:
        """Early firing on the still-open minute; never resolves (the minute isn't over)."""
        if state.episode.firing or authors < self.config.min_authors:
            return None
        score = state.model.score_one(minute, authors)
        if score < self.config.fire_score or not self._may_fire(state, at, authors, score):
            return None
        expected = state.model.expected(minute)
        return self._fire(state, at, minute, score, authors, expected, subject, evidence, partial=True)

    def close_minute(self, state: EmergingState, minute: float, authors: float, subject: str,
                     evidence: Callable[[], dict] | None = None) -> Alert | None:
        """Judge a closed minute, then learn it (frozen while firing)."""
        cfg = self.config
        model = state.model
        score = model.score_one(minute, authors)
        expected = model.expected(minute)
        state.score, state.expected = score, expected
        alert = None
        if not state.episode.firing:
            if score >= cfg.fire_score and authors >= cfg.min_authors and self._may_fire(state, minute + 60.0, authors, score):
                alert = self._fire(state, minute + 60.0, minute, score, authors, expected,
                                   subject, evidence, partial=False)
        else:
            # calm: back near the baseline, or fallen far below the episode's peak
            state.peak_authors = max(state.peak_authors, authors)
            calm = (score < cfg.resolve_score and authors <= cfg.calm_peak_fraction * state.peak_authors) \
                or authors < cfg.min_authors / 4
            alert = state.episode.update(
                at=minute + 60.0, active=False, calm=calm, score=score, observed=authors,
                expected=expected,
                summary=f"{subject} back near its baseline: {authors:.0f} authors/min vs ~{expected:.1f} expected")
            if alert is not None:
                state.resolved_at = minute + 60.0
                if evidence is not None:
                    alert.evidence = evidence()
        model.frozen = state.episode.firing
        # a tag's first minute holds only the part after its birth: learnt, the
        # under-count of a tag born rising (34 authors, then 180) widened its
        # baseline so far that the rise never fired
        born_in_it = state.first_seen is not None and minute_of(state.first_seen) == minute
        if not born_in_it:
            model.learn_one(minute, authors)
        return alert

    def _fire(self, state, at, minute, score, authors, expected, subject, evidence, partial) -> Alert:
        cfg = self.config
        severity = severity_for(score, cfg.warning_score, cfg.critical_score)
        if severity == "info":
            severity = "warning" if expected < 1.0 else "info"
        when = "so far this minute" if partial else "in the last minute"
        summary = (f"{subject} is taking off: {authors:.0f} distinct authors {when} "
                   f"vs ~{expected:.1f} expected (score {score:.1f})")
        alert = state.episode.update(at=at, active=True, calm=False, score=score, subject=subject,
                                     observed=authors, expected=expected, summary=summary,
                                     evidence=evidence() if evidence else None,
                                     started_at=minute, severity=severity)
        state.score, state.expected = score, expected
        state.peak_authors = authors
        state.young_authors = None  # a tag that has trended is no longer new
        return alert
