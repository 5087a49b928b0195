"""Real parts for integration tests: the embedded broker, worker processes,
and plain Kafka clients to feed and read topics.  No mocks."""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.embedded import EmbeddedBroker, ensure_topics, free_port

REPO = Path(__file__).resolve().parents[1]
TOPIC_PARTITIONS = 4


def shared_dir() -> Path:
    """The product's shared documents and data (``seeds/``, ``data/nab/``):
    ``$RASD_SHARED_DIR``, else the nearest ``shared/`` beside the checkout or
    beside one of its parents (a clone inside a scratch directory still finds
    it).  Tests that need it skip, naming this path, when it is absent."""
    if os.environ.get("RASD_SHARED_DIR"):
        return Path(os.environ["RASD_SHARED_DIR"])
    for parent in REPO.parents:
        if (parent / "shared").is_dir():
            return parent / "shared"
    return REPO.parent / "shared"


def source_module(module: types.ModuleType) -> types.ModuleType:
    """A fresh copy of ``module`` run from its ``.py`` source, even when the
    imported one is compiled (``setup.py``): doctest finds no examples in a
    compiled module."""
    path = Path(module.__file__).with_name(module.__name__.rsplit(".", 1)[-1] + ".py")
    spec = importlib.util.spec_from_file_location(module.__name__ + "_source", path)
    copy = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = copy  # dataclasses look their module up while the class is made
    spec.loader.exec_module(copy)
    return copy


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Worker:
    """One ``rasd worker`` process against a broker."""

    def __init__(self, bootstrap: str, workdir: Path, name: str = "w1", app_id: str = "rasd-test",
                 extra_env: dict | None = None, web_port: int | None = None):
        self.bootstrap = bootstrap
        self.web_port = web_port or free_port()
        self.host_port = f"127.0.0.1:{self.web_port}"
        self.web_url = f"http://{self.host_port}"
        self.metrics_url = self.web_url + "/metrics"
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "RASD_KAFKA_BROKER": f"kafka://{bootstrap}",
            "RASD_WEB_PORT": str(self.web_port),
            "RASD_DATA_DIR": str(workdir / name),
            "RASD_APP_ID": app_id,
            "RASD_TOPIC_PARTITIONS": str(TOPIC_PARTITIONS),
            "RASD_IDLE_CLOSE_SECONDS": "10",
            "PYTHONPATH": str(REPO),
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> "Worker":
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
                                     env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout, what=f"worker {self.web_url} to answer")
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(self.web_url + "/healthz", timeout=2):
                return True
        except OSError:
            return False

    def get_json(self, path: str):
        with urllib.request.urlopen(self.web_url + path, timeout=10) as response:
            return orjson.loads(response.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=10) as response:
            return response.read().decode()

    def metric(self, name: str, **labels) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        return metric_in(self.metrics(), name, **labels)

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def crashes(self) -> list[str]:
        """Agents that crashed (Faust restarts them, but their batch is gone)."""
        try:
            return [line for line in self.log_path.read_text(errors="replace").splitlines()
                    if "Crashed reason=" in line]
        except OSError:
            return []

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def metric_in(exposition: str, name: str, **labels) -> float:
    """Sum of the samples of ``name`` in a Prometheus text exposition whose labels include ``labels``."""
    total = 0.0
    for line in exposition.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process image's peak resident set size so far (``VmHWM``; ``ru_maxrss``
    would include the parent's from before ``exec``)."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def start_broker() -> EmbeddedBroker:
    broker = EmbeddedBroker().start()
    ensure_topics(broker.bootstrap, {"posts": TOPIC_PARTITIONS, "alerts": 1, "posts-dlq": 1})
    return broker


def _producer(bootstrap: str) -> KafkaProducer:
    # reconnect within a second of a broker coming back (kafka-python backs off
    # up to 30 s): a replay paused longer than the worker's idle threshold is,
    # by design, over
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all", max_request_size=4 * 1024 * 1024,
                         reconnect_backoff_max_ms=1000)


def produce(bootstrap: str, values: list[bytes], topic: str = "posts", partition: int | None = None) -> None:
    """Send ``values`` in order (to one ``partition``, or spread by the client)."""
    producer = _producer(bootstrap)
    for value in values:
        producer.send(topic, value=value, partition=partition)
    producer.flush()
    producer.close()


class Feed(threading.Thread):
    """Produces ``values`` a chunk at a time over about ``seconds``, in the
    background: input that keeps flowing while workers come and go.  ``sent``
    counts what the broker has acknowledged; ``hold``/``release`` pause it (while
    the broker is away), ``resumed_after`` is how long the first chunk after a
    release took to be acknowledged; ``join`` re-raises a failure."""

    def __init__(self, bootstrap: str, values: list[bytes], seconds: float, topic: str = "posts"):
        super().__init__(daemon=True)
        self.bootstrap, self.values, self.seconds, self.topic = bootstrap, values, seconds, topic
        self.sent = 0
        self.resumed_after: float | None = None
        self.error: BaseException | None = None
        self.flowing, self.parked = threading.Event(), threading.Event()
        self.flowing.set()

    def run(self) -> None:
        try:
            producer = _producer(self.bootstrap)
            step = max(1, int(len(self.values) / (self.seconds * 4)))
            for start in range(0, len(self.values), step):
                released_at = None
                if not self.flowing.is_set():
                    self.parked.set()
                    self.flowing.wait()
                    self.parked.clear()
                    released_at = time.monotonic()
                for value in self.values[start:start + step]:
                    producer.send(self.topic, value=value)
                producer.flush()
                if released_at is not None:
                    self.resumed_after = time.monotonic() - released_at
                self.sent = min(start + step, len(self.values))
                time.sleep(0.25)
            producer.close()
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def hold(self) -> None:
        """Pause; returns once the chunk in flight is acknowledged."""
        self.flowing.clear()
        wait_for(lambda: self.parked.is_set() or not self.is_alive(), 60, what="the feed to pause")

    def release(self) -> None:
        self.flowing.set()

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def read_topic(bootstrap: str, topic: str, idle_ms: int = 2000) -> list:
    """Every record now on ``topic`` (all partitions, from the beginning)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=idle_ms)
    try:
        return list(consumer)
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> int:
    """Messages written to ``topic`` so far, all partitions together."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        return sum(consumer.end_offsets([TopicPartition(topic, p) for p in partitions]).values())
    finally:
        consumer.close()


def read_alerts(bootstrap: str) -> list[dict]:
    return [orjson.loads(m.value) for m in read_topic(bootstrap, "alerts")]


def alert_keys(alerts: list[dict]) -> list[tuple]:
    """What must agree between a backtest and the live pipeline."""
    return sorted((a["id"], a["kind"], a["status"], a["subject"], a["at"], a["started_at"]) for a in alerts)


EVENING = datetime(2016, 5, 22, 12, tzinfo=timezone.utc)  # 15:00 in Baghdad
ORGANIC = dict(rate=120.0, warmup_hours=1.5, event_hours=2.0, rise_minutes=15.0, start=EVENING)


def scenario_lines(preset: str, **kwargs) -> list[bytes]:
    from scenarios.presets import PRESETS

    return [orjson.dumps(p) for p in PRESETS[preset](**kwargs).posts]


def backtest_alerts(lines: list[bytes], config_path: Path | None = None) -> list[dict]:
    from detectors.config import DetectorConfig
    from detectors.pipeline import run_lines

    return [a.to_json() for a in run_lines(lines, DetectorConfig.load(config_path), now=time.time())]


def temp_dir(prefix: str = "rasd-test-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
