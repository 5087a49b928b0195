"""The embedded default broker (``noida-db``, a single-binary Kafka-protocol
broker from PyPI) and topic set-up shared by ``rasd demo`` and the tests.

Production runs Apache Kafka; nothing here is needed there.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def noida_binary() -> str:
    found = shutil.which("noida-db") or str(Path(sys.executable).with_name("noida-db"))
    if not Path(found).exists():
        raise RuntimeError("noida-db is not installed: pip install noida-db==0.2.3")
    return found


class EmbeddedBroker:
    """A private broker in a fresh data directory, on a free port."""

    def __init__(self, port: int | None = None, data_dir: str | None = None):
        self.port = port or free_port()
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="rasd-broker-")
        self.bootstrap = f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "EmbeddedBroker":
        subprocess.run([noida_binary(), "up", "--data-dir", self.data_dir, "--host", "127.0.0.1",
                        "--only", "kafka", "--kafka-port", str(self.port)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"broker did not listen on {self.bootstrap} within {timeout}s")

    def stop(self) -> None:
        subprocess.run([noida_binary(), "down", "--data-dir", self.data_dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def remove(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextmanager
def embedded_broker():
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()
        broker.remove()


def ensure_topics(bootstrap: str, topics: dict[str, int], timeout: float = 30.0) -> None:
    """Create the given topics (name -> partitions) if missing."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="rasd-setup")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(name, partitions, 1) for name, partitions in topics.items() if name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
