"""Security: SASL/TLS settings reach the Kafka clients, secrets appear in no
repr, log or metric, and post text shown in a terminal cannot drive it."""
from __future__ import annotations

import io
import os
import subprocess
import sys

from rich.console import Console

from streams.cli import _alert_row, _alert_table
from streams.config import Settings
from tests.harness import REPO

SECRET = "pa55-never-shown"
SASL_ENV = {"RASD_SECURITY_PROTOCOL": "SASL_SSL", "RASD_SASL_MECHANISM": "SCRAM-SHA-512",
            "RASD_SASL_USERNAME": "rasd", "RASD_SASL_PASSWORD": SECRET, "RASD_SSL_KEY_PASSWORD": SECRET}


def test_sasl_ssl_settings_become_faust_credentials(monkeypatch):
    for name, value in SASL_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    credentials = settings.broker_credentials()
    assert type(credentials).__name__ == "SASLCredentials"
    assert (credentials.username, credentials.password) == ("rasd", SECRET)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.ssl_context is not None
    assert SECRET not in repr(settings) and SECRET not in str(settings.public())


def test_the_worker_app_is_built_with_those_credentials():
    probe = ("from streams.app import app; c = app.conf.broker_credentials; "
             "print(type(c).__name__, c.username, c.ssl_context is not None)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, **SASL_ENV, "PYTHONPATH": str(REPO)})
    assert out.stdout.split() == ["SASLCredentials", "rasd", "True"]
    assert SECRET not in out.stdout + out.stderr


def test_cli_alert_table_shows_post_text_literally_and_inertly():
    hostile = "#[bold red]x[/] \x1b[31mRED\x1b]8;;http://evil\x07link\x9b2J [link=http://evil]y[/link]"
    buffer = io.StringIO()
    table = _alert_table()
    _alert_row(table, {"at": "2016-05-22T10:00:00Z", "kind": "emerging", "status": "firing", "subject": hostile,
                       "observed": 1, "expected": 1, "score": 1.0, "summary": hostile})
    Console(file=buffer, width=400, force_terminal=True, color_system="truecolor").print(table)
    shown = buffer.getvalue()
    assert "[bold red]x[/]" in shown and "[link=http://evil]y[/link]" in shown  # markup shown, not applied
    assert "http://evil\x07" not in shown and "\x1b]8;;http://evil" not in shown  # no terminal hyperlink
    assert "\x1b[31mRED" not in shown and "\x9b" not in shown  # no colour/erase from the post
