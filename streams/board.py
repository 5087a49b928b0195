"""The alert board: the latest state of every recent alert episode, read from
the ``alerts`` topic by every worker (a group-less consumer over all partitions,
from the beginning), so any worker's web server can show all alerts.

Bounded: at most ``capacity`` episodes; resolved ones are dropped first.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)


class AlertBoard:
    def __init__(self, capacity: int = 5000):
        self.capacity = capacity
        self.episodes: OrderedDict[str, dict] = OrderedDict()

    def apply(self, alert: dict) -> None:
        """Merge one alert record: the firing record keeps its evidence and a
        resolved record closes it (``resolved_at``), with a status timeline."""
        current = self.episodes.pop(alert["id"], None)
        if current is None:
            current = dict(alert)
            current["timeline"] = []
        else:
            firing_evidence = current.get("evidence", {})
            current.update(alert)
            if alert["status"] == "resolved":
                # a resolving minute may be silent: its empty lists must not hide why it fired
                current["evidence"] = {**firing_evidence,
                                       **{k: v for k, v in alert.get("evidence", {}).items() if v not in ([], None)}}
        if alert["status"] == "resolved":
            current["resolved_at"] = alert["at"]
        current["timeline"].append({"status": alert["status"], "at": alert["at"],
                                    "score": alert.get("score"), "observed": alert.get("observed")})
        self.episodes[alert["id"]] = current
        while len(self.episodes) > self.capacity:
            victim = next((k for k, v in self.episodes.items() if v["status"] == "resolved"),
                          next(iter(self.episodes)))
            del self.episodes[victim]

    def list(self, status: str | None = None, kind: str | None = None, limit: int = 200) -> list[dict]:
        rows = [a for a in reversed(self.episodes.values())
                if (status is None or a["status"] == status) and (kind is None or a["kind"] == kind)]
        return rows[:limit]

    def get(self, alert_id: str) -> dict | None:
        return self.episodes.get(alert_id)


async def follow_topic(settings, topic: str, apply: Callable[[dict], None],
                       from_beginning: bool = True, caught_up: asyncio.Event | None = None) -> None:
    """Feed every JSON record of ``topic`` to ``apply``, forever; reconnects.

    ``caught_up`` is set once every record that was on the topic at the first
    start has been applied (so a reader can wait for complete state)."""
    while True:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.kafka_bootstrap(), group_id=None,
            enable_auto_commit=False, auto_offset_reset="earliest" if from_beginning else "latest",
            **kafka_security(settings))
        try:
            await consumer.start()
            behind = await _end_offsets(consumer, topic) if caught_up and not caught_up.is_set() else {}
            if caught_up and not behind:
                caught_up.set()
            async for message in consumer:
                try:
                    apply(orjson.loads(message.value))
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    log.warning("skipping unreadable record on %s: %r", topic, exc)
                if behind and message.offset + 1 >= behind.get(message.partition, 0):
                    behind.pop(message.partition, None)
                    if not behind:
                        caught_up.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # broker away: retry, the board must come back by itself
            log.warning("following %s failed (%r); retrying", topic, exc)
            await asyncio.sleep(2.0)
        finally:
            await consumer.stop()


async def _end_offsets(consumer: AIOKafkaConsumer, topic: str) -> dict[int, int]:
    """partition -> end offset, for the partitions of ``topic`` that hold records."""
    await consumer.topics()  # fresh metadata
    partitions = consumer.partitions_for_topic(topic) or set()
    ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    return {tp.partition: end for tp, end in ends.items() if end > 0}


def kafka_security(settings) -> dict:
    """aiokafka keyword arguments for the configured SASL/TLS settings."""
    protocol = settings.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return {}
    import ssl

    kwargs: dict = {"security_protocol": protocol}
    if "SSL" in protocol:
        context = ssl.create_default_context(cafile=settings.ssl_cafile or None)
        if settings.ssl_certfile:
            context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile or None,
                                    settings.ssl_key_password or None)
        kwargs["ssl_context"] = context
    if protocol.startswith("SASL"):
        kwargs.update(sasl_mechanism=settings.sasl_mechanism, sasl_plain_username=settings.sasl_username,
                      sasl_plain_password=settings.sasl_password)
    return kwargs
