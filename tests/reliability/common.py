"""What the reliability tests compare a live worker against: a backtest of
the same input, per-minute counts of a tag and the alert records."""
from __future__ import annotations

import asyncio
import urllib.error
from urllib.parse import quote

from aiokafka.client import AIOKafkaClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.protocol.admin import DescribeGroupsRequest
from aiokafka.protocol.group import LeaveGroupRequest

from detectors.config import DetectorConfig
from detectors.pipeline import Pipeline
from detectors.text import canonical_key
from tests.harness import Worker, alert_keys, read_alerts, wait_for

FALLUJAH = canonical_key("الفلوجة_تتحرر")


def reference(lines: list[bytes], now: float | None = None, config: DetectorConfig | None = None) -> Pipeline:
    pipe = Pipeline(config)
    for line in lines:
        try:
            pipe.process_raw(line, now)
        except ValueError:
            pass
    pipe.finish()
    return pipe


def expected_history(pipe: Pipeline, key: str) -> list[list]:
    return [[m * 60, p, a] for m, (p, a) in sorted(pipe.tags.states[key].history.items())]


def live_history(workers: list[Worker], key: str) -> list[list] | None:
    """The tag's history from whichever worker owns it (None: nobody does yet)."""
    for worker in workers:
        try:
            return worker.get_json("/tags/" + quote(key))["history"]
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        except OSError:
            continue  # a stopped or killed worker
    return None


def wait_for_history(workers: list[Worker], key: str, expected: list[list], timeout: float) -> list[list]:
    """Every closed minute equals the backtest's; the last two may still be open
    live (the worker closes them on wall-clock idleness)."""
    settled = expected[:-2]

    def same():
        live = live_history(workers, key)
        return live if live is not None and live[:len(settled)] == settled and len(live) <= len(expected) else None

    try:
        return wait_for(same, timeout, interval=2, what=f"live counts of {key} to equal the backtest's")
    except AssertionError:
        live = live_history(workers, key) or []
        diff = [(e, l) for e, l in zip(settled, live) if e != l][:5]
        late = []
        for worker in workers:
            try:
                late.append(worker.metric("rasd_late_events_total", stage="tags"))
            except OSError:  # a stopped or killed worker
                continue
        raise AssertionError(f"{key}: live has {len(live)} minutes, backtest {len(expected)}; "
                             f"first differences (backtest, live): {diff}; late tag hits per worker: {late}") from None


def wait_for_alerts(bootstrap: str, expected: list[dict], timeout: float) -> list[dict]:
    """The distinct alert records (id, status, …) on the topic equal the backtest's."""
    want = sorted(set(alert_keys(expected)))

    def settled():
        live = read_alerts(bootstrap)
        return live if sorted(set(alert_keys(live))) == want else None

    try:
        return wait_for(settled, timeout, interval=3, what="live alerts to equal the backtest's")
    except AssertionError:
        live = set(alert_keys(read_alerts(bootstrap)))
        raise AssertionError(f"live != backtest\nmissing: {sorted(set(want) - live)}\n"
                             f"extra: {sorted(live - set(want))}") from None


async def _with_client(bootstrap: str, work):
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        return await work(client, next(iter(client.cluster.brokers())).nodeId)
    finally:
        await client.close()


def group_members(bootstrap: str, group: str) -> dict[str, dict[str, list[int]]]:
    """The group's members (DescribeGroups), each with its assigned partitions per topic."""

    async def describe(client, node):
        described = await client.send(node, DescribeGroupsRequest([group]))
        return {member[0]: {topic: sorted(partitions) for topic, partitions in
                            (ConsumerProtocolMemberAssignment.decode(member[4]).assignment if member[4] else [])}
                for g in described.groups for member in g[5]}

    return asyncio.run(_with_client(bootstrap, describe))


def expire_members(bootstrap: str, group: str) -> list[str]:
    """Remove every member of ``group`` — what Kafka does to a kill -9'd consumer
    once its session times out.  noida-db 0.2.3 never expires one: it stays the
    group's leader and the restarted worker waits for its assignment forever."""
    members = list(group_members(bootstrap, group))

    async def expire(client, node):
        for member in members:
            await client.send(node, LeaveGroupRequest(group, member))

    asyncio.run(_with_client(bootstrap, expire))
    return members
