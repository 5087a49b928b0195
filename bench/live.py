"""Live throughput through Kafka: worker processes on the embedded broker.

For one worker, then two (same app, ``RASD_TOPIC_PARTITIONS`` = 4): the
workers start on an empty ``posts`` topic; once they have read a first probe
of 50 posts on each partition, a second one shows how many posts partitions
each worker reads; then the posts of the seeded file are produced as fast as
a plain aiokafka producer can (a child process sending record batches, each
partition in event-time order).
Four times a second the bench samples what was produced (end offsets of
``posts``), what the workers ingested (``rasd_posts_ingested_total``), the
messages each stage has taken (``rasd_messages_taken_total``) against the end
offsets of its input topic, and the tag stage's lag (the group's committed
offsets on ``tag-hits``); it prints the lag over time.

Figures: the sustained ingest rate (wall clock, between 10 % and 90 % of the
posts); end to end, the time until every stage has taken all its input (and,
in the notes, until the tag stage has committed it: Faust commits every
``commit_interval``, 2.8 s); and the posts per CPU-second the workers used (what a worker would do with a
core of its own: the bench machine is shared, so wall-clock rates measure the
neighbours too).  Two workers against one: in wall clock, and by CPU (twice
the two-worker rate per CPU-second over the one-worker rate: splitting the
work costs nothing extra if it is 2).  The broker's own CPU is in the notes.

Usage: .venv/bin/python bench/live.py [--posts N] [--workers 1 2] [--cap SECONDS]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import time
from pathlib import Path

from common import Figure, ensure_posts, machine, print_table, read_lines, rss_mb

from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from tests.harness import TOPIC_PARTITIONS, Worker, metric_in, start_broker, temp_dir, wait_for

TARGET_PER_WORKER = 20_000
TARGET_SCALING = 1.7
APP_ID = "rasd-bench"
PROBE = 50  # posts per partition
SAMPLE_SECONDS = 0.25
# each stage's input topic (the workers read them from empty: taken == end offsets when drained)
STAGE_INPUTS = {"tags": "tag-hits", "shards": "platform-hits", "summaries": "tag-minutes",
                "platforms": "platform-minutes"}


async def _produce(bootstrap: str, lines: list[bytes], partitions: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        sent = []
        for partition in range(partitions):
            share, i = lines[partition::partitions], 0
            while i < len(share):
                batch = producer.create_batch()
                while i < len(share) and batch.append(key=None, value=share[i], timestamp=None) is not None:
                    i += 1
                batch.close()
                sent.append(await producer.send_batch(batch, "posts", partition=partition))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def produce(bootstrap: str, lines: list[bytes], partitions: int = TOPIC_PARTITIONS) -> None:
    """Every line to ``posts``, spread evenly over the partitions in order."""
    asyncio.run(_produce(bootstrap, lines, partitions))


def produce_in_background(bootstrap: str, lines: list[bytes]) -> multiprocessing.Process:
    proc = multiprocessing.Process(target=produce, args=(bootstrap, lines), daemon=True)
    proc.start()
    return proc


def written_bytes(pid: int) -> int:
    """Bytes a process has written so far (files and sockets alike)."""
    return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/io").read_text().splitlines()
                if line.startswith("wchar:"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid(data_dir: str) -> int | None:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"start" in command and data_dir.encode() in command:
            return int(pid)
    return None


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


_last_scraped: dict[str, dict[str, float]] = {}  # per worker web URL: its last scraped counts


def scrape(workers: list[Worker]) -> list[dict[str, float]]:
    """Per worker: posts ingested ("posts") and messages each stage has taken (by
    stage).  A scrape that fails (seen once: the web view reset the connection)
    counts what it counted last time."""
    for w in workers:
        try:
            text = w.metrics()
        except OSError:
            if w.proc.poll() is not None:
                raise AssertionError(f"worker exited with {w.proc.returncode}:\n{w.log_tail()}") from None
            continue
        counts = {stage: metric_in(text, "rasd_messages_taken_total", stage=stage) for stage in STAGE_INPUTS}
        counts["posts"] = metric_in(text, "rasd_posts_ingested_total")
        _last_scraped[w.web_url] = counts
    return [_last_scraped.get(w.web_url, {}) for w in workers]


def ingested(workers: list[Worker]) -> list[float]:
    """Posts each worker has ingested."""
    return [counts.get("posts", 0.0) for counts in scrape(workers)]


def measure(lines: list[bytes], workers: int, cap_seconds: float) -> dict:
    workdir = temp_dir("rasd-bench-live-")
    broker = start_broker()
    procs: list[Worker] = []
    try:
        procs = [Worker(broker.bootstrap, workdir, name=f"w{i}", app_id=APP_ID).start() for i in range(workers)]
        offsets = Offsets(broker.bootstrap)
        # two probes: the first waits out the workers joining the group (a rebalance
        # re-reads uncommitted posts, so its counts can be double); the second
        # shows how many posts partitions each worker reads
        size = PROBE * TOPIC_PARTITIONS
        warmup, probe, backlog = lines[:size], lines[size:2 * size], lines[2 * size:]
        produce(broker.bootstrap, warmup)
        try:  # a worker joining late rebalances the groups: give that time, then measure whatever we have
            wait_for(lambda: all(ingested(procs)), 45, 1.0, "every worker to read posts partitions")
        except AssertionError:
            pass
        wait_for(lambda: sum(ingested(procs)) >= len(warmup), 120, 0.5, "the first probe to be ingested")
        before = ingested(procs)
        produce(broker.bootstrap, probe)
        wait_for(lambda: sum(ingested(procs)) - sum(before) >= len(probe), 120, 0.5, "the second probe to be ingested")
        partitions = [round((n - b) / PROBE) for n, b in zip(ingested(procs), before)]
        base = sum(ingested(procs))
        noida = broker_pid(str(broker.data_dir))
        cpu_before = [cpu_seconds(w.proc.pid) for w in procs] + [cpu_seconds(noida) if noida else 0.0]
        written_before = written_bytes(noida) if noida else 0
        started = time.monotonic()
        producer = produce_in_background(broker.bootstrap, backlog)
        samples = []  # (seconds, produced, ingested, tag-hits lag)
        produced_at = drained_at = committed_at = None
        while time.monotonic() - started < cap_seconds:
            time.sleep(SAMPLE_SECONDS)
            counts = scrape(procs)
            done = sum(c.get("posts", 0.0) for c in counts) - base
            produced = sum(offsets.end("posts").values()) - 2 * size
            tag_lag = offsets.lag("tag-hits", APP_ID)
            now = time.monotonic() - started
            samples.append((now, produced, done, tag_lag))
            if produced_at is None and produced >= len(backlog):
                produced_at = now
            if drained_at is None and done >= len(backlog) and all(
                    sum(c.get(stage, 0.0) for c in counts) >= sum(offsets.end(topic).values())
                    for stage, topic in STAGE_INPUTS.items()):
                drained_at = now
            if committed_at is None and done >= len(backlog) and tag_lag == 0:
                committed_at = now
            if drained_at is not None and committed_at is not None:
                break
        cpu = [cpu_seconds(w.proc.pid) for w in procs] + [cpu_seconds(noida) if noida else 0.0]
        cpu_used = [after - before for before, after in zip(cpu_before, cpu)]
        broker_written = written_bytes(noida) - written_before if noida else 0
        rss = [rss_mb(w.proc.pid) for w in procs]
        producer.join(30)
        offsets.close()
        return {"posts": len(backlog), "samples": samples, "produced_at": produced_at, "drained_at": drained_at,
                "committed_at": committed_at,
                "worker_cpu": sum(cpu_used[:-1]), "broker_cpu": cpu_used[-1], "broker_written": broker_written,
                "seconds": samples[-1][0] if samples else 0.0, "rss": rss, "partitions": partitions}
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
        return next((t for t, _, done, _ in samples if done >= share * posts), None)

    t10, t90 = first_time(0.1), first_time(0.9)
    if t10 is not None and t90 is not None and t90 > t10:
        return 0.8 * posts / (t90 - t10)
    return samples[-1][2] / samples[-1][0] if samples else 0.0


def print_lag(label: str, samples: list, every: int = 8) -> None:
    print(f"\n-- {label}: consumer lag over time (s, produced, ingested, posts lag, tag-hits lag in messages)")
    for i, (t, produced, done, tag_lag) in enumerate(samples):
        if i % every == 0 or i == len(samples) - 1:
            print(f"  {t:6.1f}  {produced:9,.0f}  {done:9,.0f}  {produced - done:9,.0f}  {tag_lag:9,}")


def run(posts: int = 100_000, workers: tuple[int, ...] = (1, 2), data: Path | None = None,
        cap_seconds: float = 150.0) -> list[Figure]:
    lines = read_lines(ensure_posts(data), posts)
    figures: list[Figure] = []
    rates: dict[int, float] = {}
    cpu_rates: dict[int, float] = {}
    end_to_end: dict[int, float] = {}
    partitions: dict[int, list[int]] = {}
    for n in workers:
        result = measure(lines, n, cap_seconds)
        partitions[n] = result["partitions"]
        samples, total = result["samples"], result["posts"]
        print_lag(f"{n} worker(s)", samples)
        rates[n] = sustained_rate(samples, total)
        done = samples[-1][2] if samples else 0
        drained, produced_at = result["drained_at"], result["produced_at"]
        # posts per CPU-second of all the workers together: what each would do with a core of its own
        per_cpu = done / result["worker_cpu"] if result["worker_cpu"] else 0.0
        cpu_rates[n] = per_cpu
        figures.append(Figure(
            f"live ingest, {n} worker(s), wall clock", rates[n], "posts/s", TARGET_PER_WORKER * n,
            note=f"{total:,} posts; posts partitions per worker {'/'.join(map(str, result['partitions']))}; "
                 + (f"produced in {produced_at:.0f} s; " if produced_at else "")
                 + (f"every stage drained after {drained:.1f} s"
                    if drained else f"not every stage drained within {cap_seconds:.0f} s")
                 + f"; RSS {'/'.join(f'{r:.0f}' for r in result['rss'])} MiB"))
        if drained:
            end_to_end[n] = total / drained
            committed = result["committed_at"]
            figures.append(Figure(
                f"live end to end, {n} worker(s), wall clock", end_to_end[n], "posts/s", TARGET_PER_WORKER * n,
                note=f"from the first post produced until every stage has taken all of them ({drained:.1f} s; "
                     + (f"the tag stage's offsets committed after {committed:.1f} s, {total / committed:,.0f} "
                        "posts/s" if committed else "the tag stage's offsets not committed")
                     + "): ingest may race ahead of detection"))
        figures.append(Figure(
            f"live, {n} worker(s), per worker CPU-second", per_cpu, "posts/s", TARGET_PER_WORKER,
            note=f"{done:,.0f} posts ingested{' and detected' if drained else ''} in {result['worker_cpu']:.0f} "
                 f"worker CPU s (all stages); broker {result['broker_cpu']:.0f} CPU s "
                 f"({1e6 * result['broker_cpu'] / max(done, 1):.0f} us/post)"))
        if result["seconds"]:
            figures.append(Figure(
                f"live, {n} worker(s): broker CPU while measured", result["broker_cpu"] / result["seconds"],
                "cores", None,
                note=f"the embedded broker wrote {result['broker_written'] / 1e9:.1f} GB in "
                     f"{result['seconds']:.0f} s: noida-db rewrites its whole state as one JSON file "
                     "back to back while data changes"))
    if 1 in rates and 2 in rates and rates[1]:
        figures.append(Figure("live scaling, 2 workers / 1", rates[2] / rates[1], "x", TARGET_SCALING,
                              note="one of the two workers got no posts partition" if 0 in partitions[2] else
                              "wall clock, 2 cores shared by both workers, the broker and the bench"))
    if 1 in end_to_end and 2 in end_to_end:
        figures.append(Figure("live scaling end to end, 2 workers / 1", end_to_end[2] / end_to_end[1], "x",
                              TARGET_SCALING, note="wall clock"))
    if 1 in cpu_rates and 2 in cpu_rates and cpu_rates[1]:
        figures.append(Figure("live scaling by CPU, 2 workers / 1", 2 * cpu_rates[2] / cpu_rates[1], "x",
                              TARGET_SCALING, note="two workers with a core each against one, from posts per "
                                                   "worker CPU-second (the broker needs cores too)"))
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
