"""Push Rasd's detector alerts to Alertmanager (API v2).

Why push when Prometheus already alerts on ``rasd_alerts_firing``? The rules in
deploy/prometheus/rules cover ops signals (workers down, stalls, lag, DLQ) and
alert counts. An episode's content (its hashtag, evidence, scores) cannot be a
metric label without unbounded cardinality, so each episode is pushed as its
own Alertmanager alert; Alertmanager then inhibits the count-based
RasdDetectorAlertFiring while the pushed ones are active.

Alertmanager ends an alert that is not re-sent within ``resolve_timeout``
(5m), so the pusher keeps the firing ones and re-sends them (``resend``, every
``resend_interval`` seconds via ``run``). Resolved episodes are sent once with
``endsAt``. Nothing here raises into the caller: failures are logged and
counted in ``rasd_alertmanager_push_errors_total``.

In the worker, every record of the alerts topic is ``enqueue``d (coalesced by
id) and ``run`` pushes them.  An alert muted on the board (``muted(id)``) is
sent ended (``endsAt`` now) instead of firing and is not re-sent until the mute
is lifted or expires; ``refresh(id)`` applies a mute change at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import aiohttp
from prometheus_client import Counter

from streams.metrics import REGISTRY

log = logging.getLogger(__name__)

PUSH_ERRORS = Counter(
    "rasd_alertmanager_push_errors",
    "Alerts or pushes to Alertmanager that failed, by reason.",
    ["reason"],
    registry=REGISTRY,
)
_ERROR_REASONS = ("invalid_alert", "timeout", "connection", "http")
for _reason in _ERROR_REASONS:
    PUSH_ERRORS.labels(_reason)

TEAM = "rasd"


def alertname(kind: str) -> str:
    """``counter_campaign`` -> ``RasdCounterCampaign``."""
    return "Rasd" + "".join(part.capitalize() for part in kind.split("_"))


def _rfc3339(value: str) -> str:
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:  # the worker's timestamps are UTC
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def to_am_payload(alert: dict, board_url: str = "") -> dict:
    """Map one alert JSON (as on the ``alerts`` topic) to an Alertmanager v2 alert.

    The subject (a hashtag) stays out of the labels: labels define identity and
    grouping, and ``rasd_id`` already identifies the episode.
    """
    evidence_url = f"{board_url.rstrip('/')}/alerts/{alert['id']}" if board_url else ""
    annotations = {
        "subject": alert.get("subject", ""),
        "summary": alert.get("summary", ""),
        "evidence_url": evidence_url,
        **{k: _fmt(alert[k]) for k in ("observed", "expected", "score") if alert.get(k) is not None},
    }
    payload = {
        "labels": {
            "alertname": alertname(alert["kind"]),
            "kind": alert["kind"],
            "severity": alert["severity"],
            "rasd_id": str(alert["id"]),
            "team": TEAM,
        },
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": _rfc3339(alert.get("started_at") or alert["at"]),
    }
    if evidence_url:
        payload["generatorURL"] = evidence_url
    if alert.get("status") == "resolved":
        payload["endsAt"] = _rfc3339(alert["at"])
    return payload


def _ended_now(alert: dict) -> dict:
    """The alert as Alertmanager should see a muted one: ended now."""
    return {**alert, "status": "resolved",
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")}


class AlertmanagerPusher:
    """Sends alert JSON to ``{url}/api/v2/alerts`` and re-sends firing ones."""

    def __init__(
        self,
        url: str,
        board_url: str = "",
        *,
        resend_interval: float = 60.0,
        timeout: float = 5.0,
        muted: Callable[[str], bool] = lambda alert_id: False,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.board_url = board_url
        self.resend_interval = resend_interval
        self.muted = muted
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._firing: dict[str, dict] = {}
        self._pending: dict[str, dict] = {}
        self._refresh: set[str] = set()
        self._wake = asyncio.Event()

    @classmethod
    def from_env(cls, board_url: str = "", **kwargs) -> AlertmanagerPusher | None:
        """``RASD_ALERTMANAGER_URL`` (unset: no pushing), ``RASD_BOARD_URL`` (else
        ``board_url``) and ``RASD_ALERTMANAGER_RESEND_SECONDS`` (default 60)."""
        url = os.environ.get("RASD_ALERTMANAGER_URL")
        if not url:
            return None
        return cls(url, os.environ.get("RASD_BOARD_URL") or board_url,
                   resend_interval=float(os.environ.get("RASD_ALERTMANAGER_RESEND_SECONDS", "60")), **kwargs)

    async def push(self, alerts: list[dict]) -> None:
        payloads = []
        for alert in alerts:
            key = str(alert.get("id"))
            if alert.get("status") == "resolved":
                # A resolve must carry the same labels as its firing alert, even
                # if the resolved record omits fields like severity.
                alert = {**self._firing.pop(key, {}), **{k: v for k, v in alert.items() if v is not None}}
            else:
                self._firing[key] = alert
                if self.muted(key):
                    alert = _ended_now(alert)
            try:
                payloads.append(to_am_payload(alert, self.board_url))
            except (KeyError, TypeError, ValueError):
                self._firing.pop(key, None)
                PUSH_ERRORS.labels("invalid_alert").inc()
                log.warning("cannot map alert %r for Alertmanager", alert, exc_info=True)
        await self._post(payloads)

    async def resend(self) -> None:
        await self._post([to_am_payload(a, self.board_url) for key, a in self._firing.items()
                          if not self.muted(key)])

    def enqueue(self, alert: dict) -> None:
        """Queue one alert record for ``run`` (a newer record of the same id replaces it)."""
        self._pending[str(alert.get("id"))] = alert
        self._wake.set()

    def refresh(self, alert_id: str) -> None:
        """A mute changed: end the firing alert now, or send it again if unmuted."""
        self._refresh.add(alert_id)
        self._wake.set()

    async def run(self, batch: int = 500) -> None:
        """Push queued alerts as they come and re-send firing ones every
        ``resend_interval`` seconds, forever; run it as a background task."""
        next_resend = time.monotonic() + self.resend_interval
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), max(next_resend - time.monotonic(), 0.0))
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            queued = list(self._pending.values())
            self._pending.clear()
            for start in range(0, len(queued), batch):
                await self.push(queued[start:start + batch])
            changed = [self._firing[key] for key in self._refresh if key in self._firing]
            self._refresh.clear()
            await self._post([to_am_payload(_ended_now(a) if self.muted(str(a["id"])) else a, self.board_url)
                              for a in changed])
            if time.monotonic() >= next_resend:
                await self.resend()
                next_resend = time.monotonic() + self.resend_interval

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, payloads: list[dict]) -> None:
        if not payloads:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self.endpoint, json=payloads) as resp:
                if resp.status >= 300:
                    PUSH_ERRORS.labels("http").inc()
                    log.warning("Alertmanager answered %s: %s", resp.status, (await resp.text())[:500])
        except asyncio.TimeoutError:
            PUSH_ERRORS.labels("timeout").inc()
            log.warning("Alertmanager push to %s timed out", self.endpoint)
        except Exception as exc:  # noqa: BLE001 - a push must never break the worker
            PUSH_ERRORS.labels("connection").inc()
            log.warning("Alertmanager push to %s failed: %r", self.endpoint, exc)
