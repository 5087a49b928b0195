"""Worker settings, from ``RASD_*`` environment variables.

Broker security (SASL/TLS) passes straight through to Faust/aiokafka; secrets
are read from the environment and never logged or exported as metrics
(``Settings.public()`` is what may be shown).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

KNOWN_PLATFORMS = ("twitter", "facebook", "instagram", "whatsapp", "telegram", "youtube",
                   "tiktok", "snapchat", "threads", "x")
SECRET_FIELDS = ("sasl_password", "ssl_key_password")


def _env(name: str, default: str) -> str:
    return os.environ.get("RASD_" + name.upper(), default)


@dataclass(slots=True)
class Settings:
    broker: str = field(default_factory=lambda: _env("kafka_broker", "kafka://127.0.0.1:9092"))
    app_id: str = field(default_factory=lambda: _env("app_id", "rasd"))
    data_dir: str = field(default_factory=lambda: _env("data_dir", "./var/rasd"))
    web_host: str = field(default_factory=lambda: _env("web_host", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("web_port", "6066")))
    partitions: int = field(default_factory=lambda: int(_env("topic_partitions", "4")))
    replication: int = field(default_factory=lambda: int(_env("topic_replication", "1")))
    topic_posts: str = field(default_factory=lambda: _env("topic_posts", "posts"))
    topic_dlq: str = field(default_factory=lambda: _env("topic_dlq", "posts-dlq"))
    topic_alerts: str = field(default_factory=lambda: _env("topic_alerts", "alerts"))
    topic_tag_hits: str = field(default_factory=lambda: _env("topic_tag_hits", "tag-hits"))
    topic_platform_hits: str = field(default_factory=lambda: _env("topic_platform_hits", "platform-hits"))
    topic_tag_minutes: str = field(default_factory=lambda: _env("topic_tag_minutes", "tag-minutes"))
    topic_platform_minutes: str = field(default_factory=lambda: _env("topic_platform_minutes", "platform-minutes"))
    topic_mutes: str = field(default_factory=lambda: _env("topic_mutes", "alert-mutes"))
    detector_config: str | None = field(default_factory=lambda: os.environ.get("RASD_DETECTOR_CONFIG") or None)
    alertmanager_url: str | None = field(default_factory=lambda: os.environ.get("RASD_ALERTMANAGER_URL") or None)
    public_url: str = field(default_factory=lambda: _env("public_url", ""))
    grafana_url: str = field(default_factory=lambda: _env("grafana_url", "http://localhost:3000/d/rasd-overview"))
    # Faust's default; the crash test stretches it so a kill always leaves work to replay
    commit_interval_seconds: float = field(default_factory=lambda: float(_env("commit_interval_seconds", "2.8")))
    idle_close_seconds: float = field(default_factory=lambda: float(_env("idle_close_seconds", "10")))
    # a table recovery whose remaining records have not moved for this long is restarted
    recovery_stall_seconds: float = field(default_factory=lambda: float(_env("recovery_stall_seconds", "60")))
    security_protocol: str = field(default_factory=lambda: _env("security_protocol", "PLAINTEXT"))
    sasl_mechanism: str = field(default_factory=lambda: _env("sasl_mechanism", "PLAIN"))
    sasl_username: str = field(default_factory=lambda: _env("sasl_username", ""))
    sasl_password: str = field(default_factory=lambda: _env("sasl_password", ""), repr=False)  # never in a log line
    ssl_cafile: str = field(default_factory=lambda: _env("ssl_cafile", ""))
    ssl_certfile: str = field(default_factory=lambda: _env("ssl_certfile", ""))
    ssl_keyfile: str = field(default_factory=lambda: _env("ssl_keyfile", ""))
    ssl_key_password: str = field(default_factory=lambda: _env("ssl_key_password", ""), repr=False)  # never in a log line

    def public(self) -> dict:
        """Every setting, secrets masked."""
        return {f.name: ("***" if f.name in SECRET_FIELDS and getattr(self, f.name) else getattr(self, f.name))
                for f in fields(self)}

    def broker_credentials(self):
        """Faust credentials for SASL and/or TLS, or None for plaintext."""
        import ssl

        import faust

        protocol = self.security_protocol.upper()
        if protocol == "PLAINTEXT":
            return None
        context = None
        if "SSL" in protocol:
            context = ssl.create_default_context(cafile=self.ssl_cafile or None)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile or None,
                                        self.ssl_key_password or None)
        if protocol.startswith("SASL"):
            return faust.SASLCredentials(username=self.sasl_username, password=self.sasl_password,
                                         ssl_context=context, mechanism=self.sasl_mechanism)
        return faust.SSLCredentials(context)

    def kafka_bootstrap(self) -> str:
        """host:port list for plain Kafka clients."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";"))


def platform_label(platform: str) -> str:
    """Bounded Prometheus label for a free-form platform name."""
    return platform if platform in KNOWN_PLATFORMS else "other"
