"""The ceiling: how fast the bench's posts go through the embedded broker with
no Rasd code at all, and what Faust alone costs per message.

A plain aiokafka producer fills ``posts`` (4 partitions, record batches, as
``bench/live.py`` produces); plain aiokafka consumers (no group, no commits)
read it all back with ``getmany``; then a Faust agent that does nothing with
its messages reads it (``take_events(500)``, the way the worker's ingest agent
reads posts).  Rates are wall clock and per
CPU-second of the client; the broker's CPU per post is in the notes.  A worker
can go no faster than the plain consumer, and on this machine the broker's
own CPU per post is of the order of the whole worker's.

Usage: .venv/bin/python bench/ceiling.py [--posts N]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Figure, ensure_posts, machine, print_table, read_lines

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from live import broker_pid, cpu_seconds, produce
from tests.harness import TOPIC_PARTITIONS, start_broker


class Clock:
    """Wall and CPU time of this process from ``start()``; printed as JSON."""

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def report(self) -> None:
        os.write(1, orjson.dumps({"wall": time.perf_counter() - self.wall, "cpu": time.process_time() - self.cpu}))


async def consume(bootstrap: str, total: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition("posts", p) for p in range(TOPIC_PARTITIONS)])
        clock, seen = Clock(), 0
        clock.start()
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(records) for records in batches.values())
        clock.report()
    finally:
        await consumer.stop()


def faust_agent(bootstrap: str, total: int) -> None:
    """A Faust worker whose agent only counts; exits once ``total`` are read."""
    import faust

    app = faust.App("rasd-ceiling", broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    key_serializer="raw", value_serializer="raw", consumer_auto_offset_reset="earliest",
                    topic_partitions=TOPIC_PARTITIONS, datadir=os.environ["CEILING_DATADIR"])

    clock = Clock()

    @app.agent(app.topic("posts"))
    async def count(stream):
        seen = 0
        async for events in stream.take_events(500, within=0.05):
            if not seen:
                clock.start()  # from the first batch: start-up and the group join left out
            seen += len(events)
            if seen >= total:
                clock.report()
                os._exit(0)

    sys.argv = ["ceiling", "worker", "--loglevel", "warn", "--without-web"]
    app.main()


def timed_child(datadir: str, *args: str) -> tuple[float, float]:
    """(wall s, CPU s) of the work of this script run as a child with ``args``."""
    child = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], check=True,
                           capture_output=True, env={**os.environ, "CEILING_DATADIR": datadir})
    times = orjson.loads(child.stdout.splitlines()[-1])
    return times["wall"], times["cpu"]


def run(posts: int = 200_000) -> list[Figure]:
    lines = read_lines(ensure_posts(), posts)
    n = len(lines)
    broker = start_broker()
    datadir = tempfile.mkdtemp(prefix="rasd-ceiling-")
    figures = []
    try:
        noida = broker_pid(str(broker.data_dir))

        def step(name: str, *args: str, note: str = "") -> None:
            before = cpu_seconds(noida)
            wall, cpu = timed_child(datadir, *args)
            broker_us = 1e6 * (cpu_seconds(noida) - before) / n
            figures.append(Figure(name, n / wall, "posts/s",
                                  note=f"{n / cpu:,.0f} per client CPU-second; broker {broker_us:.0f} us/post"
                                       + (f"; {note}" if note else "")))

        step("ceiling: plain producer", "--produce", broker.bootstrap, str(n), note="aiokafka record batches")
        step("ceiling: plain consumer", "--consume", broker.bootstrap, str(n), note="getmany, default fetch")
        step("ceiling: Faust agent doing nothing", "--faust", broker.bootstrap, str(n),
             note="take_events(500), as the worker's ingest agent")
    finally:
        broker.stop()
        broker.remove()
        shutil.rmtree(datadir, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--produce", nargs=2, metavar=("BOOTSTRAP", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--consume", nargs=2, metavar=("BOOTSTRAP", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--faust", nargs=2, metavar=("BOOTSTRAP", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        lines, clock = read_lines(ensure_posts(), int(args.produce[1])), Clock()
        clock.start()
        produce(args.produce[0], lines)
        clock.report()
    elif args.consume:
        asyncio.run(consume(args.consume[0], int(args.consume[1])))
    elif args.faust:
        faust_agent(args.faust[0], int(args.faust[1]))
    else:
        print(machine())
        print_table(run(args.posts), "broker ceiling")


if __name__ == "__main__":
    main()
