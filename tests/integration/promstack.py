"""Real Prometheus and Alertmanager on 127.0.0.1 for the deploy tests.

Each runs from a temp dir on a free port with the repo's rules and
Alertmanager config, adapted for tests: 1s scrape/evaluation, `for:` shortened
and webhooks pointed at a closed loopback port. Configs are written as JSON,
which is valid YAML, so no YAML library is needed.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "rasd.rules.yml"
AM_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"

# The worker's metric families as documented for streams/metrics.py
# (client_python names: counters keep `_total`, histograms their base name).
WORKER_METRICS = {
    "rasd_posts_ingested_total": "counter",
    "rasd_messages_taken_total": "counter",
    "rasd_dlq_messages_total": "counter",
    "rasd_posts_read_errors_total": "counter",
    "rasd_alerts_fired_total": "counter",
    "rasd_alerts_resolved_total": "counter",
    "rasd_alerts_firing": "gauge",
    "rasd_processing_lag_seconds": "gauge",
    "rasd_detector_duration_seconds": "histogram",
    "rasd_platform_observed_posts_per_minute": "gauge",
    "rasd_platform_expected_posts_per_minute": "gauge",
    "rasd_late_events_total": "counter",
    "rasd_tracked_tags": "gauge",
    "rasd_held_tag_hits": "gauge",
    "rasd_tag_evictions_total": "counter",
    "rasd_changelog_records_skipped_total": "counter",
    "rasd_trending_score": "gauge",
    "rasd_last_message_timestamp_seconds": "gauge",
    "rasd_event_watermark_timestamp_seconds": "gauge",
    "rasd_alertmanager_push_errors_total": "counter",
}

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
# Debian names the daemon prometheus-alertmanager; upstream calls it alertmanager.
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")


DASHBOARD = DEPLOY / "grafana" / "dashboards" / "rasd-overview.json"
# Grafana's built-in interval variables, replaced by a fixed range for Prometheus.
_GRAFANA_VARS = re.compile(r"\$__(?:rate_interval|interval|range)\b|\$\{__(?:rate_interval|interval|range)\}")


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL as Prometheus gets it) for every dashboard panel target and annotation."""
    dash = json.loads(DASHBOARD.read_text())
    queries = [
        (f"panel {p['title']!r} {t['refId']}", t["expr"])
        for p in dash["panels"]
        if p["type"] != "row"
        for t in p["targets"]
    ]
    queries += [(f"annotation {a['name']!r}", a["expr"]) for a in dash["annotations"]["list"] if "expr" in a]
    return [(where, _GRAFANA_VARS.sub("1m", expr)) for where, expr in queries]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_rules(dest: Path, for_: str = "2s") -> Path:
    """Copy the rules with every `for:` set to a test-sized duration."""
    dest.write_text(re.sub(r"(?m)^(\s+for: )\S+", rf"\g<1>{for_}", RULES.read_text()))
    return dest


def render_alertmanager_config(dest: Path, webhook_base: str) -> Path:
    """Copy the Alertmanager config with the webhooks sent to `webhook_base`."""
    dest.write_text(AM_CONFIG.read_text().replace("http://alert-webhook:5001", webhook_base))
    return dest


def http_json(url: str, data: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """GET (or POST JSON) and return (status, decoded body), also for 4xx/5xx."""
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw.decode(errors="replace")


def wait_until(check: Callable[[], Any], timeout: float = 30, interval: float = 0.25, what: str = "") -> Any:
    """Poll `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


class _Daemon:
    def __init__(self, name: str, argv: list[str], workdir: Path, port: int) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.host_port = f"127.0.0.1:{port}"
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        try:
            wait_until(self._ready, timeout=30, what=f"{name} ready")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{name} did not start:\n{self.log_tail()}") from None

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log_tail()}")
        with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
            return resp.status == 200

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_alertmanager(workdir: Path) -> _Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    config = render_alertmanager_config(workdir / "alertmanager.yml", f"http://127.0.0.1:{free_port()}")
    port = free_port()
    return _Daemon(
        "alertmanager",
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: single instance
        ],
        workdir,
        port,
    )


def start_prometheus(
    workdir: Path,
    targets: list[str] = (),
    *,
    alertmanager: str | None = None,
    rule_for: str = "2s",
) -> _Daemon:
    """Prometheus scraping `targets` as job "rasd" with the repo's rules."""
    workdir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(render_rules(workdir / "rasd.rules.yml", rule_for))],
        "scrape_configs": [{"job_name": "rasd", "static_configs": [{"targets": list(targets)}]}],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    (workdir / "prometheus.yml").write_text(json.dumps(config, indent=2))
    port = free_port()
    return _Daemon(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
        ],
        workdir,
        port,
    )


class PromStack:
    """Alertmanager (optional) plus a Prometheus that scrapes `targets`."""

    def __init__(self, workdir: Path, targets: list[str] = (), *, alertmanager: bool = True, rule_for: str = "2s"):
        self.alertmanager = start_alertmanager(workdir / "am") if alertmanager else None
        try:
            self.prometheus = start_prometheus(
                workdir / "prom",
                targets,
                alertmanager=self.alertmanager.host_port if self.alertmanager else None,
                rule_for=rule_for,
            )
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> PromStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for daemon in (getattr(self, "prometheus", None), self.alertmanager):
            if daemon:
                daemon.stop()

    def query_raw(self, expr: str) -> tuple[int, Any]:
        """Instant query; (HTTP status, body). A PromQL syntax error is a 400."""
        return http_json(self.prometheus.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))

    def query(self, expr: str) -> list[dict]:
        status, body = self.query_raw(expr)
        if status != 200:
            raise AssertionError(f"query {expr!r} failed ({status}): {body}")
        return body["data"]["result"]

    def targets(self) -> list[dict]:
        return http_json(self.prometheus.url + "/api/v1/targets")[1]["data"]["activeTargets"]

    def wait_targets_up(self, timeout: float = 30) -> list[dict]:
        def all_up() -> list[dict] | None:
            active = self.targets()
            return active if active and all(t["health"] == "up" for t in active) else None

        return wait_until(all_up, timeout, what="scrape targets up")

    def rule_alerts(self) -> list[dict]:
        """Prometheus' pending and firing alerts."""
        return http_json(self.prometheus.url + "/api/v1/alerts")[1]["data"]["alerts"]

    def am_alerts(self, **filters: str) -> list[dict]:
        """Alertmanager's alerts (`GET /api/v2/alerts`, active ones by default)."""
        query = "?" + urllib.parse.urlencode(filters) if filters else ""
        return http_json(self.alertmanager.url + "/api/v2/alerts" + query)[1]
