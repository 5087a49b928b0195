"""``rasd``: the command line.

    rasd worker                      the Faust worker (topics, agents, tables, web views)
    rasd produce FILE.jsonl          replay posts into Kafka in event-time order
    rasd alerts [--follow] [--json]  read the alerts topic
    rasd backtest FILE.jsonl         the same detectors in-process, no broker
    rasd trending / variants TAG     live (from a worker) or over a file
    rasd demo                        embedded broker + worker + a bundled Arabic scenario
    rasd generate PRESET             write a scenario file
    rasd score-series SERIES.csv     the volume detector over a NAB-format series
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import orjson
import typer
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from streams import glibc_malloc

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Rasd (رصد): streaming trend detection.")
console = Console()
err = Console(stderr=True)

DEFAULT_WORKER_URL = "http://127.0.0.1:6066"
TERMINAL_CONTROLS = str.maketrans({c: "\ufffd" for c in [*range(0x20), *range(0x7f, 0xa0)] if c != 0x0a})


def escape(text: str) -> str:
    """Post-derived text for the terminal: Rich markup escaped and control
    characters replaced (Rich passes ESC through, so a post could otherwise
    recolour, retitle or hyperlink the operator's terminal)."""
    return escape_markup(str(text).translate(TERMINAL_CONTROLS))


def _settings():
    from streams.config import Settings

    return Settings()


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err, transient=False)


# -- worker ---------------------------------------------------------------------
@cli.command()
def worker(loglevel: str = typer.Option("warn", help="Faust log level: crit, error, warn, info, debug")) -> None:
    """Run the Faust worker (settings from RASD_* environment variables)."""
    import gc

    import mode.loop

    glibc_malloc.cap_arenas()
    # uvloop: the event loop's own work (scheduling, sockets) in C, a few % of
    # a worker's CPU; chosen before the app exists, so Faust runs on it
    mode.loop.use("uvloop")
    from streams.app import app

    # The worker holds many long-lived objects (tag state) that the cyclic GC
    # would scan again and again: collect young objects less often, and never
    # scan what start-up created.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    sys.argv = ["rasd", "worker", "--loglevel", loglevel]
    app.main()


# -- produce --------------------------------------------------------------------
def _event_time(line: bytes) -> float:
    try:
        from detectors.records import parse_time

        return parse_time(orjson.loads(line).get("created_at"), "created_at")
    except Exception:
        return float("-inf")  # unreadable lines go first; the worker dead-letters them


@cli.command()
def produce(file: Path = typer.Argument(..., exists=True, dir_okay=False),
            speed: float = typer.Option(0.0, help="Event-time seconds replayed per wall second (0: --max)"),
            max_speed: bool = typer.Option(False, "--max", help="As fast as possible"),
            broker: Optional[str] = typer.Option(None, help="host:port (default RASD_KAFKA_BROKER)"),
            topic: Optional[str] = typer.Option(None, help="Topic (default RASD_TOPIC_POSTS or 'posts')")) -> None:
    """Replay a JSONL file of posts into Kafka in event-time order."""
    from kafka import KafkaProducer

    settings = _settings()
    lines = [line.rstrip(b"\r\n") for line in file.read_bytes().splitlines() if line.strip()]
    ordered = sorted(((_event_time(line), i, line) for i, line in enumerate(lines)), key=lambda t: (t[0], t[1]))
    producer = KafkaProducer(bootstrap_servers=broker or settings.kafka_bootstrap(), linger_ms=5,
                             acks=1, max_request_size=4 * 1024 * 1024)
    pace = 0.0 if (max_speed or speed <= 0) else speed
    first_event = next((t for t, _, _ in ordered if t != float("-inf")), 0.0)
    started = time.monotonic()
    with _progress() as progress:
        task = progress.add_task("producing", total=len(ordered), rate="")
        for n, (event_time, _, line) in enumerate(ordered, 1):
            if pace and event_time != float("-inf"):
                delay = (event_time - first_event) / pace - (time.monotonic() - started)
                if delay > 0:
                    time.sleep(delay)
            producer.send(topic or settings.topic_posts, value=line)
            if n % 500 == 0 or n == len(ordered):
                elapsed = max(time.monotonic() - started, 1e-9)
                progress.update(task, completed=n, rate=f"{n / elapsed:,.0f} posts/s")
    producer.flush()
    producer.close()
    err.print(f"produced {len(ordered):,} posts in {time.monotonic() - started:.1f}s")


# -- alerts ---------------------------------------------------------------------
def _alert_row(table: Table, alert: dict) -> None:
    colour = {"critical": "red", "warning": "yellow"}.get(alert.get("severity"), "cyan")
    status = alert["status"] if alert["status"] == "firing" else f"[dim]{alert['status']}[/dim]"
    table.add_row(alert["at"], f"[{colour}]{alert['kind']}[/{colour}]", status, escape(alert["subject"]),
                  f"{alert['observed']:g} / {alert['expected']:g}", f"{alert['score']:.1f}",
                  escape(alert["summary"]))


def _alert_table() -> Table:
    table = Table(show_lines=False)
    for column in ("at (event time)", "kind", "status", "subject", "observed / expected", "score", "summary"):
        table.add_column(column, overflow="fold")
    return table


@cli.command()
def alerts(follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new alerts"),
           as_json: bool = typer.Option(False, "--json", help="One JSON object per line"),
           broker: Optional[str] = typer.Option(None), topic: Optional[str] = typer.Option(None)) -> None:
    """Print the alerts topic, from the beginning."""
    from kafka import KafkaConsumer

    settings = _settings()
    consumer = KafkaConsumer(topic or settings.topic_alerts, bootstrap_servers=broker or settings.kafka_bootstrap(),
                             group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                             consumer_timeout_ms=None if follow else 3000)
    table = _alert_table()
    try:
        for message in consumer:
            alert = orjson.loads(message.value)
            if as_json:
                sys.stdout.write(orjson.dumps(alert).decode() + "\n")
                sys.stdout.flush()
            elif follow:
                one = _alert_table()
                _alert_row(one, alert)
                console.print(one)
            else:
                _alert_row(table, alert)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if not as_json and not follow:
        console.print(table)


# -- backtest -------------------------------------------------------------------
@cli.command()
def backtest(file: Path = typer.Argument(..., exists=True, dir_okay=False),
             alerts_out: Path = typer.Option(Path("alerts.jsonl"), help="Alerts, one JSON per line"),
             rejects_out: Optional[Path] = typer.Option(None, help="Bad lines with their reason (default FILE.rejects.jsonl)"),
             config: Optional[Path] = typer.Option(None, help="Detector config / watchlist (TOML)")) -> None:
    """Run every detector in-process over a JSONL file, in event time, as fast as possible."""
    from detectors.config import DetectorConfig
    from detectors.pipeline import Pipeline, batch_gc
    from detectors.records import InvalidPost

    pipe = Pipeline(DetectorConfig.load(config))
    rejects_path = rejects_out or file.with_suffix(".rejects.jsonl")
    counts: dict[str, int] = {}
    started = time.monotonic()
    total = sum(1 for _ in file.open("rb"))
    now = time.time()
    with alerts_out.open("wb") as out, rejects_path.open("wb") as rejects, _progress() as progress:
        task = progress.add_task("backtest", total=total, rate="")

        def emit(found) -> None:
            for alert in found:
                out.write(orjson.dumps(alert.to_json()) + b"\n")
                key = f"{alert.kind} {alert.status}"
                counts[key] = counts.get(key, 0) + 1

        with file.open("rb") as fh, batch_gc():
            for line_no, raw in enumerate(fh, 1):
                raw = raw.rstrip(b"\r\n")
                if raw.strip():
                    try:
                        emit(pipe.process_raw(raw, now))
                    except InvalidPost as exc:
                        rejects.write(orjson.dumps({"line": line_no, "reason": exc.reason, "detail": exc.detail,
                                                    "original": raw.decode("utf-8", "replace")}) + b"\n")
                if line_no % 5000 == 0:
                    rate = line_no / max(time.monotonic() - started, 1e-9)
                    progress.update(task, completed=line_no, rate=f"{rate:,.0f} posts/s")
            emit(pipe.finish())
        progress.update(task, completed=total)
    elapsed = time.monotonic() - started
    summary = Table(title=f"backtest of {file.name}")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_row("posts processed", f"{pipe.stats['posts']:,}")
    summary.add_row("tag hits", f"{pipe.stats['hits']:,}")
    summary.add_row("rejected lines", f"{pipe.stats['rejected']:,}")
    for reason, n in sorted(pipe.rejects.items()):
        summary.add_row(f"  rejected: {reason}", f"{n:,}")
    summary.add_row("late hits (left out of windows)", f"{pipe.tags.late_hits:,}")
    for key, n in sorted(counts.items()):
        summary.add_row(f"alerts: {key}", f"{n:,}")
    summary.add_row("throughput", f"{pipe.stats['posts'] / max(elapsed, 1e-9):,.0f} posts/s")
    console.print(summary)
    err.print(f"alerts written to {alerts_out}; rejects to {rejects_path}")


def _backtest_pipeline(file: Path, config: Optional[Path]):
    from detectors.config import DetectorConfig
    from detectors.pipeline import Pipeline, batch_gc
    from detectors.records import InvalidPost

    pipe = Pipeline(DetectorConfig.load(config))
    now = time.time()
    with file.open("rb") as fh, batch_gc():
        for raw in fh:
            if raw.strip():
                try:
                    pipe.process_raw(raw.rstrip(b"\r\n"), now)
                except InvalidPost:
                    pass
    pipe.finish()
    return pipe


def _get_json(url: str) -> dict:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return orjson.loads(exc.read())


# -- trending / variants ----------------------------------------------------------
@cli.command()
def trending(url: str = typer.Option(DEFAULT_WORKER_URL, help="A worker's web address"),
             backtest_file: Optional[Path] = typer.Option(None, "--backtest", help="Rank over a JSONL file instead"),
             config: Optional[Path] = typer.Option(None), n: int = typer.Option(10, "-n"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """The tags most significant right now (at the end of a backtest file)."""
    if backtest_file is not None:
        rows = _backtest_pipeline(backtest_file, config).summaries.trending.top(n)
    else:
        rows = _get_json(url.rstrip("/") + f"/trending?n={n}")["items"]
    if as_json:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    table = Table(title="trending now")
    for column in ("#", "tag", "score", "authors/min", "expected", "posts/min", "firing", "last 30 min"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["rank"]), escape(row["subject"]), f"{row['score']:.1f}", str(row["observed"]),
                      f"{row['expected']:.1f}", str(row["posts"]), "yes" if row["firing"] else "",
                      _sparkline(row.get("sparkline", [])))
    console.print(table)


def _sparkline(values: list[float]) -> str:
    if not values:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    top = max(values) or 1
    return "".join(bars[min(int(v / top * (len(bars) - 1)), len(bars) - 1)] for v in values)


@cli.command()
def variants(tag: str = typer.Argument(..., help="A hashtag, e.g. '#قمة_بغداد'"),
             url: str = typer.Option(DEFAULT_WORKER_URL, help="A worker's web address"),
             backtest_file: Optional[Path] = typer.Option(None, "--backtest", help="Group over a JSONL file instead"),
             config: Optional[Path] = typer.Option(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """The variant group of a tag and each variant's share."""
    import urllib.parse

    if backtest_file is not None:
        group = _backtest_pipeline(backtest_file, config).summaries.variants.group_of(tag)
    else:
        group = _get_json(url.rstrip("/") + "/variants?tag=" + urllib.parse.quote(tag)).get("group")
    if as_json:
        sys.stdout.write(orjson.dumps(group).decode() + "\n")
        return
    if not group:
        err.print(f"no active group contains {escape(tag)}")
        raise typer.Exit(1)
    table = Table(title=f"variants of {escape(tag)}")
    table.add_column("variant")
    table.add_column("posts", justify="right")
    table.add_column("share", justify="right")
    table.add_column("official")
    for row in group.get("variants", []):
        table.add_row(escape(row.get("tag", row.get("display", ""))), str(row.get("posts", row.get("count", ""))),
                      f"{row.get('share', 0):.0%}", "yes" if row.get("official") else "")
    console.print(table)


# -- NAB / scenarios ------------------------------------------------------------------
@cli.command("score-series")
def score_series(series: Path = typer.Argument(..., exists=True, dir_okay=False),
                 out: Path = typer.Option(..., "--out", help="timestamp,value,anomaly_score,alert")) -> None:
    """Run the volume detector (default settings) over a NAB-format count series."""
    from detectors.volume import score_series_file

    score_series_file(series, out)
    err.print(f"wrote {out}")


@cli.command()
def generate(preset: str = typer.Argument(..., help="Scenario preset name"),
             out: Path = typer.Option(..., "--out"), seed: int = typer.Option(7),
             rate: Optional[float] = typer.Option(None, help="Posts per minute at the daily mean")) -> None:
    """Write a scenario's posts (JSONL) and its ground-truth labels (FILE.labels.json)."""
    from scenarios.presets import PRESETS

    if preset not in PRESETS:
        err.print(f"unknown preset {preset!r}; choose from {', '.join(sorted(PRESETS))}")
        raise typer.Exit(2)
    kwargs = {"seed": seed}
    if rate is not None:
        kwargs["rate"] = rate
    scenario = PRESETS[preset](**kwargs)
    n = 0
    with out.open("wb") as fh:
        for post in scenario.posts:
            fh.write(orjson.dumps(post) + b"\n")
            n += 1
    out.with_suffix(".labels.json").write_bytes(orjson.dumps(scenario.labels, option=orjson.OPT_INDENT_2))
    err.print(f"wrote {n:,} posts to {out}")


# -- demo -------------------------------------------------------------------------
DEMO_CONFIG = """\
watched = ["#الفلوجة_تتحرر"]
official = ["#قمةبغداد_استقراروتنمية"]

[outage]
stall_after_seconds = 900.0
"""


@cli.command()
def demo(speed: float = typer.Option(0.0, help="Replay speed in event-time seconds per wall second (0: max)"),
         web_port: int = typer.Option(6066), rate: Optional[float] = typer.Option(None),
         keep_running: bool = typer.Option(True, help="Keep the worker up after the replay (Ctrl-C to stop)")) -> None:
    """The embedded default: private broker, a worker, and a bundled Arabic scenario replayed fast."""
    from streams.embedded import EmbeddedBroker, ensure_topics

    workdir = Path(tempfile.mkdtemp(prefix="rasd-demo-"))
    broker = EmbeddedBroker(data_dir=str(workdir / "broker"))
    worker_proc = None
    stop = {"flag": False}

    def _stop(*_):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        err.print("[bold]starting the embedded broker (noida-db)…[/bold]")
        broker.start()
        env = {**os.environ, "RASD_KAFKA_BROKER": f"kafka://{broker.bootstrap}", "RASD_WEB_PORT": str(web_port),
               "RASD_DATA_DIR": str(workdir / "worker"), "RASD_DETECTOR_CONFIG": str(workdir / "watchlist.toml"),
               "RASD_IDLE_CLOSE_SECONDS": os.environ.get("RASD_IDLE_CLOSE_SECONDS", "5")}
        (workdir / "watchlist.toml").write_text(DEMO_CONFIG, encoding="utf-8")
        settings_partitions = int(env.get("RASD_TOPIC_PARTITIONS", "4"))
        ensure_topics(broker.bootstrap, {"posts": settings_partitions, "alerts": 1, "posts-dlq": 1})
        err.print("[bold]generating the demo scenario…[/bold]")
        scenario_file = workdir / "demo.jsonl"
        generate("demo", scenario_file, 7, rate)
        worker_log = (workdir / "worker.log").open("wb")
        worker_proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env,
                                       stdout=worker_log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{web_port}"
        _wait_http(base + "/healthz", 90)
        console.rule("[bold green]Rasd is running")
        console.print(f"  web board: {base}/    metrics: {base}/metrics    trending: {base}/trending")
        console.print(f"  broker: {broker.bootstrap}    worker log: {workdir / 'worker.log'}")
        console.rule()
        producer = subprocess.Popen([sys.executable, "-m", "streams.cli", "produce", str(scenario_file),
                                     "--broker", broker.bootstrap] + (["--speed", str(speed)] if speed else ["--max"]),
                                    env=env)
        _print_alerts_until(broker.bootstrap, lambda: stop["flag"] or (
            producer.poll() is not None and not keep_running), env)
    except KeyboardInterrupt:
        pass
    finally:
        err.print("[bold]shutting down…[/bold]")
        if worker_proc is not None:
            worker_proc.terminate()
            try:
                worker_proc.wait(20)
            except subprocess.TimeoutExpired:
                worker_proc.kill()
        broker.stop()


def _wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def _print_alerts_until(bootstrap: str, done, env) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(env.get("RASD_TOPIC_ALERTS", "alerts"), bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest", consumer_timeout_ms=1000)
    try:
        while not done():
            for message in consumer:
                table = _alert_table()
                _alert_row(table, orjson.loads(message.value))
                console.print(table)
    finally:
        consumer.close()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
