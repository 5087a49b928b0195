"""Platform outage and ingest-stall detection from per-platform minute volumes.

Each platform gets a seasonal baseline (``SeasonalRate``), ``expected = level
× profile(time of day) × correction``: a slow exponentially weighted level in
posts/min, a multiplicative daily profile of ``profile_slots`` slots (linearly
interpolated, mean 1) and a fast correction for what the profile does not
know.  Platform volume is large and smooth, so a ratio model fits it better
than an additive one, and "facebook at 3% of expected" reads directly off it.
Learning is winsorised with Poisson-aware bounds, and while a platform is low,
its outage fires, or an ingest stall is pending or on, level and correction
learn at ``frozen_weight`` and the profile not at all, so an outage does not
become the new normal.

Per closed minute the detector decides between two explanations of missing
volume:

* ``ingest_stall`` (key ``"ingest"``): the total is significantly below expected
  and no platform holds up (every platform dropped together, or nothing arrived
  at all) — our side is the likely cause.  While one is pending or on, no
  platform outage advances or fires.  ``on_silence`` raises it from the
  wall-clock heartbeat when no post at all has arrived for a while.
* ``outage`` (key = platform): one platform stays low for ``fire_after_minutes``
  consecutive minutes while others hold — either below ``drop_ratio`` of its
  expected volume, or its share collapsed (below ``share_drop_ratio`` and below
  ``share_ratio`` × the others' ratio, with the others at ``hold_ratio`` or
  more).  Only platforms expecting ``min_expected_per_minute`` posts/min are
  judged, and the run's total must also be Poisson-significant
  (``min_surprise``), so small platforms never flap.

Significance is ``-log10`` of the Chernoff bound on the Poisson tail, e.g.
``P(X <= k | λ) <= exp(-(λ - k + k ln(k/λ)))``: closed-form, never overstates.
Severity comes from the IODA-style alert area, Σ (1 - observed/expected) over
the episode, in minutes of full loss; each episode fires once with the
severity of the area so far, and resolves once (``recover_ratio`` for
``resolve_after_minutes``) carrying the final area and duration.

Warm-up: a platform is judged only after ``warmup_minutes`` (3 h) of learning;
before that it is learned but never alerted on.  On the first day the
correction (half-life 15 min) alone follows the diurnal swing, so expected
volumes are within ~15% and only deep drops are judged reliably; from the
second day the profile holds the shape (within ~3% on smooth traffic).  There
is no weekly factor: the correction re-adapts to a weekday's volume within the
hour, which a drop to ``drop_ratio`` dwarfs.

>>> import math
>>> det = OutageDetector()
>>> def counts(minute, facebook_ratio=1.0):
...     curve = 1 + 0.5 * math.sin(2 * math.pi * minute / 86400)
...     return {"twitter": round(300 * curve), "facebook": round(600 * curve * facebook_ratio)}
>>> alerts = [a for m in range(0, 86400, 60) for a in det.on_minute(m, counts(m))]
>>> alerts
[]
>>> alerts = [a for m in range(86400, 87000, 60) for a in det.on_minute(m, counts(m, 0.02))]
>>> [(a.kind, a.subject, a.status, a.severity, int((a.at - 86400) // 60)) for a in alerts]
[('outage', 'facebook', 'firing', 'critical', 3)]
>>> alerts = [a for m in range(87000, 87600, 60) for a in det.on_minute(m, counts(m))]
>>> [(a.kind, a.status, a.evidence["duration_minutes"]) for a in alerts]
[('outage', 'resolved', 10)]
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from detectors.alerts import Alert, Episode, severity_for
from detectors.records import format_time

DAY = 86400.0
MINUTE = 60.0
LOG10 = math.log(10.0)
INGEST = "ingest"
MAX_SURPRISE = 300.0
MIN_FACTOR = 1e-3  # a profile slot that saw only zeros must not divide by zero
RISE_SURPRISE = 2.0  # evidence, not a decision: p <= 1% is enough to report a platform as rising


def poisson_surprise(observed: float, expected: float) -> float:
    """``-log10`` of the Chernoff bound on the Poisson tail of ``observed`` on its
    own side of ``expected`` (lower tail when below, upper when above).

    >>> round(poisson_surprise(0, 20), 2), poisson_surprise(20, 20)
    (8.69, 0.0)
    """
    if expected <= 0.0 or observed == expected:
        return 0.0
    divergence = expected - observed
    if observed > 0.0:
        divergence += observed * math.log(observed / expected)
    return min(divergence / LOG10, MAX_SURPRISE)


def _ratio(observed: float, expected: float) -> float:
    return observed / expected if expected > 0.0 else 1.0


def _percent(ratio: float) -> str:
    return f"{round(100 * ratio)}%"


@dataclass(slots=True)
class OutageConfig:
    drop_ratio: float = 0.3            # observed/expected below this is an outage minute
    recover_ratio: float = 0.7         # ...and at or above this a calm one
    share_drop_ratio: float = 0.6      # share collapse: the platform below this ratio...
    share_ratio: float = 0.5           # ...and below this fraction of the others' ratio...
    hold_ratio: float = 0.8            # ...while the others are at least this
    rise_ratio: float = 1.2            # other platforms above this are reported as rising,
    rise_minutes: int = 15             # over the outage's first minutes
    min_expected_per_minute: float = 5.0
    min_surprise: float = 6.0          # -log10 p of the whole run needed to fire
    fire_after_minutes: int = 4
    resolve_after_minutes: int = 5
    stall_ratio: float = 0.6           # total observed/expected below this may be a stall
    stall_fire_after_minutes: int = 3
    stall_after_seconds: float = 300.0  # heartbeat silence that is an ingest stall
    warning_area: float = 2.0          # alert area (minutes of full loss) for severity
    critical_area: float = 3.0
    warmup_minutes: int = 180
    level_half_life_minutes: float = 720.0
    correction_half_life_minutes: float = 15.0
    profile_half_life_days: float = 3.0
    profile_slots: int = 48
    winsor_ratio: float = 2.0          # learning clips low counts at min(e/r, e - 4 sqrt(e))...
    burst_sd: float = 2.0              # ...and high ones at e + burst_sd sqrt(e)
    frozen_weight: float = 0.02        # level/correction learning weight while low, firing or stalled
    max_platforms: int = 64
    evidence_minutes: int = 60


class SeasonalRate:
    """``level × profile(time of day) × correction`` in posts/min, learned online.

    The first day is a shape phase: each slot keeps the mean count it saw, the
    level the mean of the day, and the fast ``correction`` (half-life
    ``correction_half_life_minutes``) alone follows the diurnal swing.  After it
    the slots become a profile of mean 1, learned against the slow level
    (half-life ``level_half_life_minutes``), and the correction tracks only what
    the profile does not know (a busy news day, a weekday's volume).

    >>> rate = SeasonalRate(OutageConfig())
    >>> for m in range(0, 2 * 86400, 60):
    ...     rate.learn_one(m, 100 + 50 * math.sin(2 * math.pi * m / 86400))
    >>> round(rate.expected(2 * 86400 + 21600))
    150
    """

    __slots__ = ("config", "level", "correction", "profile", "slot_weights", "minutes",
                 "_a_level", "_a_correction", "_a_profile", "_slot_minutes", "_shape_minutes")

    def __init__(self, config: OutageConfig, level: float = 0.0, correction: float = 1.0,
                 profile: list[float] | None = None, slot_weights: list[float] | None = None,
                 minutes: int = 0):
        self.config = config
        self.level = level
        self.correction = correction
        self.profile = profile if profile is not None else [0.0] * config.profile_slots
        # shape phase only: the weight each slot has seen
        self.slot_weights = slot_weights if slot_weights is not None else [0.0] * config.profile_slots
        self.minutes = minutes
        self._a_level = 1.0 - 0.5 ** (1.0 / config.level_half_life_minutes)
        self._a_correction = 1.0 - 0.5 ** (1.0 / config.correction_half_life_minutes)
        self._slot_minutes = DAY / MINUTE / config.profile_slots
        self._a_profile = 1.0 - 0.5 ** (1.0 / (self._slot_minutes * config.profile_half_life_days))
        self._shape_minutes = int(DAY / MINUTE)

    @property
    def warm(self) -> bool:
        return self.minutes >= self.config.warmup_minutes

    @property
    def shaped(self) -> bool:
        """Past the shape phase: the profile knows the daily curve."""
        return not self.slot_weights

    def _slots(self, minute: float) -> tuple[int, int, float]:
        """The two profile slots around ``minute`` and the weight of the second."""
        slots = self.config.profile_slots
        position = (minute % DAY) / DAY * slots - 0.5  # slot values sit at slot centres
        first = math.floor(position)
        return first % slots, (first + 1) % slots, position - first

    def _factor(self, minute: float) -> float:
        if not self.shaped:
            return 1.0
        first, second, w = self._slots(minute)
        return max((1.0 - w) * self.profile[first] + w * self.profile[second], MIN_FACTOR)

    def expected(self, minute: float) -> float:
        return self.level * self._factor(minute) * self.correction

    def learn_one(self, minute: float, count: float, weight: float = 1.0) -> None:
        """Learn one minute's count; ``weight`` < 1 damps level and correction and
        freezes the profile."""
        cfg = self.config
        factor = self._factor(minute)
        expected = self.level * factor * self.correction
        if self.warm and expected > 0.0:
            # Winsorise, Poisson-aware.  Low counts are clipped only when far out (a
            # drop that lasts is learnt at frozen_weight anyway); high ones at a
            # couple of Poisson sd, so bursts (a campaign's every 15 min, a viral
            # post) do not raise the bar the minutes between them are judged by.
            sd = math.sqrt(expected)
            count = min(max(count, min(expected / cfg.winsor_ratio, expected - 4.0 * sd)),
                        expected + cfg.burst_sd * sd)
        a_level = weight * max(self._a_level, 1.0 / (self.minutes + 1))
        self.level += a_level * (count / factor - self.level)
        if self.level > 0.0:
            ratio = count / (self.level * factor)
            self.correction += weight * self._a_correction * (ratio - self.correction)
        if weight >= 1.0:
            first, second, w = self._slots(minute)
            if not self.shaped:
                for slot, share in ((first, 1.0 - w), (second, w)):
                    self.slot_weights[slot] += share
                    if share > 0.0:
                        self.profile[slot] += share / self.slot_weights[slot] * (count - self.profile[slot])
            elif self.level > 0.0:
                ratio = count / (self.level * factor)
                # a running mean over the first days, then a half-life of days
                days = self.minutes * MINUTE / DAY
                a_profile = max(self._a_profile, 1.0 / (days * self._slot_minutes))
                self.profile[first] *= 1.0 + a_profile * (1.0 - w) * (ratio - 1.0)
                self.profile[second] *= 1.0 + a_profile * w * (ratio - 1.0)
                self._normalise()
        self.minutes += 1
        if not self.shaped and self.minutes >= self._shape_minutes:
            self._end_shape_phase(minute + MINUTE)

    def _end_shape_phase(self, next_minute: float) -> None:
        seen = [p for p, w in zip(self.profile, self.slot_weights) if w > 0.0]
        mean = sum(seen) / len(seen) if seen else 0.0
        before = self.expected(next_minute)
        if mean > 0.0:
            self.profile = [p / mean if w > 0.0 else 1.0 for p, w in zip(self.profile, self.slot_weights)]
        else:
            self.profile = [1.0] * len(self.profile)
        self.slot_weights = []
        after = self.expected(next_minute)
        if after > 0.0:
            self.correction *= before / after  # no jump in the expected volume

    def _normalise(self) -> None:
        mean = sum(self.profile) / len(self.profile)
        if mean > 0.0:
            self.profile = [p / mean for p in self.profile]
            self.level *= mean

    def to_state(self) -> list:
        return [self.level, self.correction, list(self.profile), list(self.slot_weights), self.minutes]

    @classmethod
    def from_state(cls, config: OutageConfig, state: list) -> "SeasonalRate":
        level, correction, profile, slot_weights, minutes = state
        return cls(config, level, correction, list(profile), list(slot_weights), minutes)


@dataclass(slots=True)
class Run:
    """Consecutive minutes of one condition: sums for significance, area for
    severity, the last minutes as evidence, and the other platforms' volumes
    over its first minutes (before their baselines learn displaced traffic)."""

    started_at: float = 0.0
    minutes: int = 0
    observed: float = 0.0
    expected: float = 0.0
    area: float = 0.0
    trail: list = field(default_factory=list)
    others: dict = field(default_factory=dict)  # platform -> [observed, expected]

    def add(self, minute: float, observed: float, expected: float, cap: int,
            others: dict[str, "Platform"] | None = None, others_minutes: int = 0) -> None:
        if self.minutes == 0:
            self.started_at = minute
        self.minutes += 1
        self.observed += observed
        self.expected += expected
        self.area += max(0.0, 1.0 - _ratio(observed, expected))
        self.trail.append([format_time(minute), round(observed, 1), round(expected, 1)])
        del self.trail[:-cap]
        if others and self.minutes <= others_minutes:
            for name, platform in others.items():
                sums = self.others.setdefault(name, [0.0, 0.0])
                sums[0] += platform.observed
                sums[1] += platform.expected

    @property
    def ratio(self) -> float:
        return _ratio(self.observed, self.expected)

    def surprise(self) -> float:
        return poisson_surprise(self.observed, self.expected)

    def to_state(self) -> list:
        return [self.started_at, self.minutes, self.observed, self.expected, self.area, self.trail,
                self.others]

    @classmethod
    def from_state(cls, state: list) -> "Run":
        started_at, minutes, observed, expected, area, trail = state[:6]
        others = state[6] if len(state) > 6 else {}  # states saved before others were kept
        return cls(started_at, minutes, observed, expected, area, [list(row) for row in trail],
                   {n: list(v) for n, v in others.items()})


class Platform:
    """One platform's baseline, its current low run and its outage episode."""

    __slots__ = ("rate", "episode", "run", "share_collapse", "last_seen", "observed", "expected")

    def __init__(self, name: str, config: OutageConfig):
        self.rate = SeasonalRate(config)
        self.episode = Episode(kind="outage", key=name, fire_after=1,
                               resolve_after=config.resolve_after_minutes)
        self.run = Run()
        self.share_collapse = False
        self.last_seen = 0.0
        self.observed = 0.0
        self.expected = 0.0

    def to_state(self) -> list:
        return [self.rate.to_state(), self.episode.to_state(), self.run.to_state(),
                self.share_collapse, self.last_seen, self.observed, self.expected]

    @classmethod
    def from_state(cls, name: str, config: OutageConfig, state: list) -> "Platform":
        platform = cls(name, config)
        # states saved by older versions carry a ninth item, no longer used
        rate, episode, run, platform.share_collapse, platform.last_seen, platform.observed, \
            platform.expected = state[:7]
        platform.rate = SeasonalRate.from_state(config, rate)
        platform.episode = Episode.from_state(episode)
        platform.run = Run.from_state(run)
        return platform


class OutageDetector:
    """Per-platform outages and ingest stalls from closed event-time minutes
    (see the module docstring for the method and the defaults)."""

    def __init__(self, config: OutageConfig | None = None):
        self.config = config or OutageConfig()
        self.platforms: dict[str, Platform] = {}
        self.stall = Episode(kind="ingest_stall", key=INGEST, fire_after=1,
                             resolve_after=self.config.resolve_after_minutes)
        self.stall_run = Run()
        self.stall_reason = ""
        self.last_minute: float | None = None

    # -- event time ---------------------------------------------------------------

    def on_minute(self, minute: float, counts: dict[str, int]) -> list[Alert]:
        """Judge then learn one closed minute; a platform missing from ``counts``
        had 0 posts.  A minute at or before the last one is ignored (replay)."""
        cfg = self.config
        if self.last_minute is not None and minute <= self.last_minute:
            return []
        self.last_minute = minute
        for name, count in counts.items():
            if count > 0:
                self._platform(name).last_seen = minute
        for name, platform in self.platforms.items():
            platform.observed = float(counts.get(name, 0))
            platform.expected = platform.rate.expected(minute)
        judged = {n: p for n, p in self.platforms.items() if p.rate.warm}
        total_observed = sum(p.observed for p in judged.values())
        total_expected = sum(p.expected for p in judged.values())
        total_ratio = _ratio(total_observed, total_expected)
        holding = [n for n, p in judged.items() if self._holds(p, total_ratio)]

        alerts: list[Alert] = []
        # a partial drop is only told from the diurnal swing once the profiles know it
        stall_now = (total_expected >= cfg.min_expected_per_minute and not holding
                     and total_ratio < cfg.stall_ratio
                     and (total_observed == 0 or all(p.rate.shaped for p in judged.values())))
        was_stalled = self.stall.firing
        if stall_now or (was_stalled and total_ratio < cfg.recover_ratio):
            self.stall_run.add(minute, total_observed, total_expected, cfg.evidence_minutes)
            if stall_now and not was_stalled:
                self.stall_reason = "no posts" if total_observed == 0 else "all platforms down"
        elif not was_stalled:
            self.stall_run = Run()
        stall_due = (self.stall_run.minutes >= cfg.stall_fire_after_minutes
                     and self.stall_run.surprise() >= cfg.min_surprise)
        calm = total_observed > 0 and (total_expected < cfg.min_expected_per_minute
                                       or total_ratio >= cfg.recover_ratio or bool(holding))
        alert = self.stall.update(
            at=minute, active=stall_due, calm=calm and not stall_now, subject=INGEST,
            started_at=self.stall_run.started_at, observed=total_observed,
            expected=total_expected, severity=self._severity(self.stall_run.area),
            **self._stall_report(judged, total_ratio))
        if alert:
            alerts.append(alert)
        if was_stalled and not self.stall.firing:
            self.stall_run = Run()
        stalled = self.stall.firing or stall_now

        for name, platform in self.platforms.items():
            alert = None
            if stalled:
                # the platform is not observable: a pending outage is dropped, a firing one held
                if not platform.episode.firing:
                    platform.run = Run()
            elif name in judged:
                alert = self._judge(name, platform, minute, judged)
            low = platform.run.minutes > 0 or platform.episode.firing
            weight = cfg.frozen_weight if (stalled or low) else 1.0
            platform.rate.learn_one(minute, platform.observed, weight)
            if alert:
                alerts.append(alert)
        return alerts

    def _platform(self, name: str) -> Platform:
        platform = self.platforms.get(name)
        if platform is None:
            if len(self.platforms) >= self.config.max_platforms:
                # least recently seen goes first, but keep a firing outage while we can
                victim = min(self.platforms, key=lambda n: (
                    self.platforms[n].episode.firing, self.platforms[n].last_seen))
                del self.platforms[victim]
            platform = self.platforms[name] = Platform(name, self.config)
        return platform

    def _holds(self, platform: Platform, total_ratio: float) -> bool:
        """Clearly above both ``hold_ratio`` and the common drop: evidence against a stall."""
        cfg = self.config
        return (platform.observed >= cfg.hold_ratio * platform.expected
                and platform.observed > total_ratio * platform.expected
                and poisson_surprise(platform.observed, total_ratio * platform.expected) >= 3.0)

    def _others_ratio(self, name: str, judged: dict[str, Platform]) -> tuple[float, float]:
        observed = sum(p.observed for n, p in judged.items() if n != name)
        expected = sum(p.expected for n, p in judged.items() if n != name)
        return _ratio(observed, expected), expected

    def _judge(self, name: str, platform: Platform, minute: float,
               judged: dict[str, Platform]) -> Alert | None:
        cfg = self.config
        ratio = _ratio(platform.observed, platform.expected)
        others_ratio, others_expected = self._others_ratio(name, judged)
        dropped = ratio < cfg.drop_ratio
        share_collapsed = (ratio < cfg.share_drop_ratio and ratio < cfg.share_ratio * others_ratio
                           and others_ratio >= cfg.hold_ratio
                           and others_expected >= cfg.min_expected_per_minute)
        low = platform.expected >= cfg.min_expected_per_minute and (dropped or share_collapsed)
        run = platform.run
        if low or (platform.episode.firing and ratio < cfg.recover_ratio):
            if run.minutes == 0:
                platform.share_collapse = share_collapsed and not dropped
            run.add(minute, platform.observed, platform.expected, cfg.evidence_minutes,
                    {n: p for n, p in judged.items() if n != name}, cfg.rise_minutes)
        elif not platform.episode.firing:
            platform.run = run = Run()
        due = (run.minutes >= cfg.fire_after_minutes and run.surprise() >= cfg.min_surprise)
        calm = platform.observed >= cfg.recover_ratio * platform.expected
        firing_before = platform.episode.firing
        alert = platform.episode.update(
            at=minute, active=due, calm=calm, score=run.surprise(), subject=name,
            started_at=run.started_at, observed=platform.observed, expected=platform.expected,
            severity=self._severity(run.area),
            **self._outage_report(name, platform, ratio, others_ratio, judged))
        if firing_before and not platform.episode.firing:
            platform.run = Run()
        return alert

    def _severity(self, area: float) -> str:
        return severity_for(area, self.config.warning_area, self.config.critical_area)

    def _rising(self, run: Run) -> list[tuple[str, float]]:
        """Other platforms clearly up over the run's first ``rise_minutes`` minutes."""
        rising = [(other, observed / expected) for other, (observed, expected) in run.others.items()
                  if observed > self.config.rise_ratio * expected
                  and poisson_surprise(observed, expected) >= RISE_SURPRISE]
        return sorted(rising, key=lambda item: (-item[1], item[0]))

    def _outage_report(self, name: str, platform: Platform, ratio: float, others_ratio: float,
                       judged: dict[str, Platform]) -> dict:
        run = platform.run
        rising = self._rising(run)
        related = [self.platforms[n].episode.id for n in sorted(judged)
                   if n != name and self.platforms[n].episode.firing]
        risen = "".join(f"; {n} up {_percent(r - 1)}" for n, r in rising[:3])
        if platform.episode.firing:
            summary = (f"{name} volume back to {_percent(ratio)} of expected after a "
                       f"{run.minutes} min outage (alert area {run.area:.1f} min of full loss)")
        elif platform.share_collapse:
            summary = (f"{name} share collapsed: volume at {_percent(run.ratio)} of expected "
                       f"while other platforms are at {_percent(others_ratio)}, for "
                       f"{run.minutes} min (expected ~{run.expected / max(run.minutes, 1):.0f}/min)"
                       f"{risen}")
        else:
            summary = (f"{name} volume at {_percent(run.ratio)} of expected for {run.minutes} min "
                       f"(expected ~{run.expected / max(run.minutes, 1):.0f}/min){risen}")
        evidence = {
            "minutes": list(run.trail), "drop_ratio": round(run.ratio, 4),
            "duration_minutes": run.minutes, "alert_area": round(run.area, 2),
            "severity_now": self._severity(run.area),
            "cause": "share_collapse" if platform.share_collapse else "drop",
            "others_ratio": round(others_ratio, 3),
            "rising": [{"platform": n, "ratio": round(r, 3)} for n, r in rising],
        }
        return {"summary": summary, "evidence": evidence, "related": related}

    def _stall_report(self, judged: dict[str, Platform], total_ratio: float) -> dict:
        run = self.stall_run
        if self.stall.firing:
            summary = (f"ingest flowing again at {_percent(total_ratio)} of expected volume "
                       f"after {run.minutes} min short (alert area {run.area:.1f} min of full loss)")
        elif self.stall_reason == "no posts":
            summary = (f"no posts from any platform for {run.minutes} min (expected "
                       f"~{run.expected / max(run.minutes, 1):.0f}/min): ingest stalled, "
                       f"not a platform outage")
        else:
            ratios = ", ".join(f"{n} {_percent(_ratio(p.observed, p.expected))}"
                               for n, p in sorted(judged.items(), key=lambda kv: -kv[1].expected)[:4])
            summary = (f"all platforms down together to {_percent(run.ratio)} of expected for "
                       f"{run.minutes} min ({ratios}): likely our ingest, not a platform outage")
        evidence = {
            "minutes": list(run.trail), "drop_ratio": round(run.ratio, 4),
            "duration_minutes": run.minutes, "alert_area": round(run.area, 2),
            "reason": self.stall_reason,
            "platforms": {n: round(_ratio(p.observed, p.expected), 3) for n, p in judged.items()},
        }
        return {"summary": summary, "evidence": evidence, "score": run.surprise()}

    # -- wall clock ---------------------------------------------------------------

    def on_silence(self, now: float, last_event_at: float, last_minute: float) -> list[Alert]:
        """Heartbeat: no post at all for ``now - last_event_at`` seconds.  Raises
        ``ingest_stall`` once that reaches ``stall_after_seconds`` (unless a warm
        baseline expected fewer than ``min_expected_per_minute`` posts in the whole
        silence); it resolves through ``on_minute`` once posts flow again."""
        cfg = self.config
        silent = now - last_event_at
        if silent < cfg.stall_after_seconds:
            return []
        judged = [p for p in self.platforms.values() if p.rate.warm]
        expected_per_minute = sum(p.rate.expected(last_minute) for p in judged)
        if judged and expected_per_minute * silent / MINUTE < cfg.min_expected_per_minute:
            return []
        if not self.stall.firing:
            self.stall_reason = "silence"
        summary = (f"no posts at all for {silent / MINUTE:.0f} min since {format_time(last_event_at)}"
                   + (f" (expected ~{expected_per_minute:.0f}/min)" if judged else "")
                   + ": ingest stalled")
        alert = self.stall.update(
            at=now, active=True, calm=False, subject=INGEST, started_at=last_event_at,
            score=poisson_surprise(0, expected_per_minute * silent / MINUTE),
            observed=0.0, expected=expected_per_minute, summary=summary,
            severity=self._severity(silent / MINUTE),
            evidence={"reason": "silence", "silent_seconds": round(silent, 1),
                      "last_event_at": format_time(last_event_at),
                      "last_minute": format_time(last_minute)})
        return [alert] if alert else []

    # -- views and state ----------------------------------------------------------

    def expected_volumes(self) -> dict[str, float]:
        """Expected posts/min per platform for the last closed minute."""
        return {n: p.expected for n, p in self.platforms.items()}

    def observed_volumes(self) -> dict[str, float]:
        return {n: p.observed for n, p in self.platforms.items()}

    def to_state(self) -> dict:
        return {
            "config": asdict(self.config),
            "platforms": {n: p.to_state() for n, p in self.platforms.items()},
            "stall": self.stall.to_state(),
            "stall_run": self.stall_run.to_state(),
            "stall_reason": self.stall_reason,
            "last_minute": self.last_minute,
        }

    @classmethod
    def from_state(cls, state: dict) -> "OutageDetector":
        detector = cls(OutageConfig(**state["config"]))
        detector.platforms = {n: Platform.from_state(n, detector.config, s)
                              for n, s in state["platforms"].items()}
        detector.stall = Episode.from_state(state["stall"])
        detector.stall_run = Run.from_state(state["stall_run"])
        detector.stall_reason = state["stall_reason"]
        detector.last_minute = state["last_minute"]
        return detector
