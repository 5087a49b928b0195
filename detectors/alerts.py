"""The alert record and the episode lifecycle every detector shares.

An episode has a stable id derived from (kind, key, start), so a replay of the
same input yields the same ids.  It fires once, resolves once, and does not
flap: firing needs the condition to hold for ``fire_after`` consecutive
evaluations; resolving needs ``resolve_after`` consecutive calm evaluations.

>>> ep = Episode(kind="emerging", key="k", fire_after=1, resolve_after=2)
>>> a = ep.update(at=60.0, active=True, calm=False, score=5.0, subject="#k",
...               observed=40, expected=2, summary="up")
>>> a.status, a.severity, ep.update(at=120.0, active=False, calm=True) is None
('firing', 'warning', True)
>>> ep.update(at=180.0, active=False, calm=True).status
'resolved'
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from detectors.records import format_time

KINDS = ("emerging", "counter_campaign", "outage", "ingest_stall", "fragmentation")
SEVERITIES = ("info", "warning", "critical")


def severity_for(score: float, warning: float = 4.0, critical: float = 10.0) -> str:
    if score >= critical:
        return "critical"
    if score >= warning:
        return "warning"
    return "info"


def episode_id(kind: str, key: str, started_at: float) -> str:
    digest = hashlib.blake2b(f"{kind}\x00{key}\x00{int(started_at)}".encode(), digest_size=10)
    return f"{kind}-{digest.hexdigest()}"


@dataclass(slots=True)
class Alert:
    id: str
    kind: str
    status: str
    subject: str
    key: str
    at: float
    started_at: float
    score: float
    severity: str
    observed: float
    expected: float
    summary: str
    related: list[str] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "status": self.status, "subject": self.subject,
            "key": self.key, "at": format_time(self.at), "started_at": format_time(self.started_at),
            "score": round(self.score, 3), "severity": self.severity,
            "observed": round(self.observed, 3), "expected": round(self.expected, 3),
            "summary": self.summary, "related": self.related, "evidence": self.evidence,
        }


@dataclass(slots=True)
class Episode:
    """Hysteresis around one (kind, key) condition; serialisable with ``to_state``."""

    kind: str
    key: str
    fire_after: int = 1
    resolve_after: int = 3
    firing: bool = False
    started_at: float = 0.0
    streak: int = 0
    calm_streak: int = 0
    peak_score: float = 0.0
    severity: str = "info"
    subject: str = ""

    def update(self, *, at: float, active: bool, calm: bool, score: float = 0.0,
               subject: str = "", observed: float = 0.0, expected: float = 0.0,
               summary: str = "", related: list[str] | None = None,
               evidence: dict | None = None, started_at: float | None = None,
               severity: str | None = None) -> Alert | None:
        """Feed one evaluation; returns the alert for a status change, else None.

        ``active`` means the firing condition holds now; ``calm`` means activity
        is back near baseline (neither: hold the current state)."""
        if not self.firing:
            self.streak = self.streak + 1 if active else 0
            if self.streak < self.fire_after:
                return None
            self.firing = True
            self.started_at = started_at if started_at is not None else at
            self.calm_streak = 0
            self.peak_score = score
            self.severity = severity or severity_for(score)
            self.subject = subject
            return self._alert("firing", at, score, observed, expected, summary, related, evidence)
        self.peak_score = max(self.peak_score, score)
        self.calm_streak = self.calm_streak + 1 if calm else 0
        if self.calm_streak < self.resolve_after:
            return None
        self.firing = False
        self.streak = 0
        return self._alert("resolved", at, score, observed, expected,
                           summary or f"{self.kind} on {self.subject} resolved", related, evidence)

    @property
    def id(self) -> str:
        return episode_id(self.kind, self.key, self.started_at)

    def _alert(self, status, at, score, observed, expected, summary, related, evidence) -> Alert:
        return Alert(
            id=self.id, kind=self.kind, status=status, subject=self.subject, key=self.key,
            at=at, started_at=self.started_at, score=score, severity=self.severity,
            observed=observed, expected=expected, summary=summary,
            related=list(related or []), evidence=dict(evidence or {}),
        )

    def to_state(self) -> list:
        return [self.kind, self.key, self.fire_after, self.resolve_after, self.firing,
                self.started_at, self.streak, self.calm_streak, self.peak_score,
                self.severity, self.subject]

    @classmethod
    def from_state(cls, state: list) -> "Episode":
        return cls(*state)
