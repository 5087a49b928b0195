"""Live throughput through Kafka: worker processes on the embedded broker.

For one worker, then two (same consumer group, ``RASD_TOPIC_PARTITIONS``
partitions): the workers start on an empty ``posts`` topic, a small probe
proves every worker has partitions assigned, then the posts of the seeded
file are produced as fast as several kafka-python producer processes can.
Every second the bench samples ``rasd_posts_ingested_total`` of each worker,
the end offsets of ``posts`` and the group's committed offsets on
``tag-hits`` (the tag stage, where detection happens), and prints the lag
over time.  Sustained throughput is the ingest rate between 10 % and 90 % of
the posts; "drained" is the time until the tag stage has committed all its
input.

Usage: .venv/bin/python bench/live.py [--posts N] [--workers 1 2] [--data FILE]
"""
from __future__ import annotations

import argparse
import multiprocessing
import shutil
import time
from pathlib import Path

from common import Figure, ensure_posts, machine, print_table, read_lines, rss_mb

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from tests.harness import Worker, start_broker, temp_dir, wait_for

TARGET_PER_WORKER = 20_000
TARGET_SCALING = 1.7
PARTITIONS = 4
PRODUCERS = 2
APP_ID = "rasd-bench"


def _produce_slice(bootstrap: str, lines: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024,
                             max_request_size=4 * 1024 * 1024)
    for line in lines:
        producer.send("posts", value=line)
    producer.flush()
    producer.close()


def produce_fast(bootstrap: str, lines: list[bytes], processes: int = PRODUCERS) -> list[multiprocessing.Process]:
    """Start ``processes`` producers, each sending its share of ``lines``."""
    procs = [multiprocessing.Process(target=_produce_slice, args=(bootstrap, lines[i::processes]), daemon=True)
             for i in range(processes)]
    for proc in procs:
        proc.start()
    return procs


class Offsets:
    """End offsets of a topic and a group's committed offsets on it."""

    def __init__(self, bootstrap: str):
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="rasd-bench")

    def end(self, topic: str) -> dict[TopicPartition, int]:
        partitions = self.consumer.partitions_for_topic(topic) or set()
        return self.consumer.end_offsets([TopicPartition(topic, p) for p in partitions])

    def lag(self, topic: str, group: str) -> int:
        end = self.end(topic)
        committed = self.admin.list_group_offsets({group: list(end)}).get(group, {})
        return sum(offset - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                   for tp, offset in end.items())

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def measure(lines: list[bytes], workers: int, cap_seconds: float) -> dict:
    workdir = temp_dir("rasd-bench-live-")
    broker = start_broker()
    procs: list[Worker] = []
    try:
        env = {"RASD_TOPIC_PARTITIONS": str(PARTITIONS), "RASD_IDLE_CLOSE_SECONDS": "10"}
        procs = [Worker(broker.bootstrap, workdir, name=f"w{i}", app_id=APP_ID, extra_env=env).start()
                 for i in range(workers)]
        offsets = Offsets(broker.bootstrap)
        probe = lines[: 50 * PARTITIONS]
        _produce_slice(broker.bootstrap, probe)
        wait_for(lambda: all(w.metric("rasd_posts_ingested_total") > 0 for w in procs), 180, 1.0,
                 "every worker to have partitions")
        wait_for(lambda: sum(w.metric("rasd_posts_ingested_total") for w in procs) >= len(probe), 120, 0.5,
                 "the probe to be ingested")
        base = sum(w.metric("rasd_posts_ingested_total") for w in procs)
        backlog = lines[len(probe):]
        started = time.monotonic()
        producers = produce_fast(broker.bootstrap, backlog)
        samples = []  # (seconds, produced, ingested, tag-hits lag)
        produced_at = None
        while time.monotonic() - started < cap_seconds:
            time.sleep(1.0)
            ingested = sum(w.metric("rasd_posts_ingested_total") for w in procs) - base
            produced = sum(offsets.end("posts").values()) - len(probe)
            tag_lag = offsets.lag("tag-hits", APP_ID)
            now = time.monotonic() - started
            samples.append((now, produced, ingested, tag_lag))
            if produced_at is None and produced >= len(backlog):
                produced_at = now
            if ingested >= len(backlog) and tag_lag == 0:
                break
        rss = [rss_mb(w.proc.pid) for w in procs]
        for proc in producers:
            proc.join(10)
        offsets.close()
        return {"posts": len(backlog), "samples": samples, "produced_at": produced_at, "rss": rss}
    finally:
        for w in procs:
            w.stop()
        broker.stop()
        broker.remove()
        shutil.rmtree(workdir, ignore_errors=True)


def sustained_rate(samples: list, posts: int) -> float:
    """Ingest rate between 10 % and 90 % of the posts (start-up and tail left out),
    or over whatever was ingested if the run was capped first."""
    def first_time(share: float) -> float | None:
        return next((t for t, _, ingested, _ in samples if ingested >= share * posts), None)

    t10, t90 = first_time(0.1), first_time(0.9)
    if t10 is not None and t90 is not None and t90 > t10:
        return 0.8 * posts / (t90 - t10)
    return samples[-1][2] / samples[-1][0] if samples else 0.0


def print_lag(label: str, samples: list, every: int = 5) -> None:
    print(f"\n-- {label}: consumer lag over time (s, produced, ingested, posts lag, tag-hits lag)")
    for i, (t, produced, ingested, tag_lag) in enumerate(samples):
        if i % every == 0 or i == len(samples) - 1:
            print(f"  {t:6.1f}  {produced:9,.0f}  {ingested:9,.0f}  {produced - ingested:9,.0f}  {tag_lag:9,}")


def run(posts: int = 100_000, workers: tuple[int, ...] = (1, 2), data: Path | None = None,
        cap_seconds: float = 150.0) -> list[Figure]:
    lines = read_lines(ensure_posts(data), posts)
    figures: list[Figure] = []
    rates: dict[int, float] = {}
    for n in workers:
        result = measure(lines, n, cap_seconds)
        samples = result["samples"]
        print_lag(f"{n} worker(s)", samples)
        rates[n] = sustained_rate(samples, result["posts"])
        drained = samples[-1][0] if samples and samples[-1][2] >= result["posts"] and samples[-1][3] == 0 else None
        produced_at = result["produced_at"]
        figures.append(Figure(
            f"live ingest, {n} worker(s)", rates[n], "posts/s", TARGET_PER_WORKER * n,
            note=(f"{result['posts']:,} posts; produced in {produced_at:.0f} s; " if produced_at else "")
            + (f"tag stage drained after {drained:.0f} s ({result['posts'] / drained:,.0f} posts/s end to end)"
               if drained else f"not drained within {cap_seconds:.0f} s")
            + f"; RSS {'/'.join(f'{r:.0f}' for r in result['rss'])} MiB"))
    if 1 in rates and 2 in rates and rates[1]:
        figures.append(Figure("live scaling, 2 workers / 1", rates[2] / rates[1], "x", TARGET_SCALING))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--cap", type=float, default=150.0, help="seconds per configuration at most")
    args = parser.parse_args()
    print(machine())
    print_table(run(args.posts, tuple(args.workers), args.data, args.cap), "live throughput")


if __name__ == "__main__":
    main()
