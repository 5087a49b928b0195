"""The `rasd` command line, run as a user would (subprocesses)."""
from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.harness import ORGANIC, REPO, scenario_lines, shared_dir, wait_for


def rasd(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def organic_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "organic.jsonl"
    path.write_bytes(b"\n".join(scenario_lines("organic_emerging", **ORGANIC)) + b"\n{broken line\n")
    return path


def test_backtest_writes_alerts_and_rejects(organic_file, tmp_path):
    alerts_out = tmp_path / "alerts.jsonl"
    result = rasd("backtest", str(organic_file), "--alerts-out", str(alerts_out))
    assert result.returncode == 0, result.stderr
    alerts = [orjson.loads(line) for line in alerts_out.read_bytes().splitlines()]
    assert any(a["kind"] == "emerging" and a["subject"] == "#الفلوجة_تتحرر" for a in alerts)
    rejects = [orjson.loads(line) for line in organic_file.with_suffix(".rejects.jsonl").read_bytes().splitlines()]
    assert [r["reason"] for r in rejects] == ["invalid_json"]
    assert "rejected lines" in result.stdout


def test_trending_over_a_backtest(organic_file):
    result = rasd("trending", "--backtest", str(organic_file), "--json")
    assert result.returncode == 0, result.stderr
    rows = orjson.loads(result.stdout)
    assert rows and rows[0]["rank"] == 1
    assert "#الفلوجة_تتحرر" in [row["subject"] for row in rows]


def test_trending_and_alerts_against_the_live_worker(live_worker):
    def trending_subjects():
        result = rasd("trending", "--url", live_worker.web_url, "--json", "-n", "100")
        assert result.returncode == 0, result.stderr
        return [row["subject"] for row in orjson.loads(result.stdout)]

    wait_for(lambda: "#الفلوجة_تتحرر" in trending_subjects(), 120, interval=5,
             what="the emerging tag in the live worker's trending list")
    table = rasd("trending", "--url", live_worker.web_url)
    assert "trending now" in table.stdout
    alerts = rasd("alerts", "--json", "--broker", live_worker.broker.bootstrap)
    assert any(orjson.loads(line)["kind"] == "emerging" for line in alerts.stdout.splitlines())


def test_the_worker_runs_on_uvloop(live_worker):
    # only mode.loop.use("uvloop") loads it: nothing else the worker runs imports uvloop
    maps = open(f"/proc/{live_worker.proc.pid}/maps").read()
    assert "/uvloop/loop." in maps


def test_variants_of_the_demo_summit_tag(tmp_path):
    demo = tmp_path / "demo.jsonl"
    assert rasd("generate", "demo", "--out", str(demo), "--rate", "80").returncode == 0
    result = rasd("variants", "#قمة_بغداد", "--backtest", str(demo), "--json")
    assert result.returncode == 0, result.stderr
    group = orjson.loads(result.stdout)
    tags = {row["tag"] for row in group["variants"]}
    assert "#قمةبغداد_استقراروتنمية" in tags and len(tags) >= 3
    assert not tags & {"#العراق", "#بغداد"}


def test_score_series_writes_the_nab_columns(tmp_path):
    series = shared_dir() / "data" / "nab" / "realTweets" / "Twitter_volume_FB.csv"
    if not series.exists():
        pytest.skip(f"NAB data not found at {series}")
    out = tmp_path / "scored.csv"
    assert rasd("score-series", str(series), "--out", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    assert lines[0].strip() == "timestamp,value,anomaly_score,alert"
    assert len(lines) == len(series.read_text().splitlines())
    assert {line.strip().rsplit(",", 1)[1] for line in lines[1:]} <= {"0", "1"}
