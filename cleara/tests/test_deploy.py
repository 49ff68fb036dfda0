"""The deployment files, each checked by the tool or schema its consumer uses.

compose.yaml against the Compose Specification's JSON schema and the GitHub workflows against
theirs (both as vendored by check-jsonschema, from PyPI); the Kubernetes manifests against the
Kubernetes OpenAPI-derived schemas (kubernetes-validate, strict); nginx's configuration with
`nginx -t`; Prometheus' configuration and rules with `promtool`; the Grafana dashboard's structure
and every metric its queries name against what /metrics exposes.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings

from scripts import stack

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.33"


def vendored_schema(name: str) -> dict:
    return json.loads(resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(f"{name}.json").read_text())


def need(tool: str) -> None:
    if not shutil.which(tool):
        pytest.skip(f"{tool} is missing: .ci/run installs it (apt-get install nginx-light prometheus)")


def validate(instance, schema) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


# --- compose -----------------------------------------------------------------------------------

def test_compose_file_follows_the_compose_specification():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert validate(compose, vendored_schema("compose-spec")) == []
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "ingest-web", "worker", "ingest", "nginx", "prometheus", "grafana"} <= services.keys()
    assert "timescale" in services["postgres"]["image"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} mounts undeclared volume {source}"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"]
    # The web service can run several replicas; the app's processes are entrypoint commands.
    assert services["web"]["deploy"]["replicas"]
    for name in ("migrate", "web", "ingest-web", "worker", "ingest"):
        assert services[name]["command"][0] in _entrypoint_commands()
        assert services[name]["environment"]["CLEARA_DEMO"] == "0"
    assert services["ingest-web"]["command"] == ["ingest-web"]
    assert services["nginx"]["environment"]["CLEARA_INGEST_UPSTREAM_SERVERS"] == "server ingest-web:8000;"
    # nginx gets a value for every variable of its template.
    template_vars = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", (DEPLOY / "nginx/templates/cleara.conf.template").read_text()))
    assert template_vars == set(services["nginx"]["environment"])
    assert services["nginx"]["environment"]["CLEARA_CLIENT_MAX_BODY"] == stack.client_max_body()


def _entrypoint_commands() -> set[str]:
    text = (ROOT / "scripts/entrypoint").read_text()
    return set(re.findall(r"^  ([\w-]+)\)", text, re.M))


def test_entrypoint_refuses_an_unknown_command():
    result = subprocess.run([str(ROOT / "scripts/entrypoint"), "serve-everything"], capture_output=True, text=True)
    assert result.returncode == 64 and "usage" in result.stderr
    assert _entrypoint_commands() == {"web", "ingest-web", "worker", "ingest", "migrate", "manage"}


def test_dockerfile_is_multi_stage_slim_non_root_with_cpu_torch_and_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.M)
    assert [name for _, name in stages if name] == ["assets", "build", "runtime", "nginx"]
    assert "slim" in re.search(r"ARG PYTHON_IMAGE=(\S+)", text).group(1)
    runtime = text.split("AS runtime")[1].split("AS nginx")[0]
    assert re.search(r"^USER 10001$", runtime, re.M) and "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert "download.pytorch.org/whl/cpu" in text and "collectstatic" in text
    assert 'ENTRYPOINT ["/app/scripts/entrypoint"]' in runtime
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "var", "static_root", "node_modules"} <= set(ignored)


def test_the_image_serves_plotlys_basic_bundle_from_the_npm_lock_file():
    text = (ROOT / "Dockerfile").read_text()
    assets = text.split("AS assets")[1].split("AS build")[0]
    assert "COPY package.json package-lock.json" in assets and "npm ci --omit=dev" in assets
    build = text.split("AS build")[1].split("AS runtime")[0]
    # node_modules is in place before collectstatic (settings.PLOTLY_JS picks the bundle from it),
    # and the build fails if the basic bundle did not make it into the static files.
    assert build.index("COPY --from=assets /assets/node_modules ./node_modules") < build.index("manage.py collectstatic")
    assert "plotly-basic.min" in build.split("manage.py collectstatic", 1)[1]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/plotly.js-basic-dist-min"]["version"] == json.loads((ROOT / "package.json").read_text())["dependencies"]["plotly.js-basic-dist-min"]


# --- GitHub workflows --------------------------------------------------------------------------

def test_workflows_follow_the_github_workflow_schema():
    schema = vendored_schema("github-workflows")
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as the string "on".
    workflows = {p.name: {("on" if k is True else k): v for k, v in yaml.safe_load(p.read_text()).items()}
                 for p in (ROOT / ".github/workflows").glob("*.yml")}
    assert set(workflows) == {"ci.yml", "release.yml"}
    for name, workflow in workflows.items():
        assert validate(workflow, schema) == [], name
    ci = workflows["ci.yml"]
    assert {"lint", "test", "browser"} <= ci["jobs"].keys()
    assert {"postgres", "redis"} <= ci["jobs"]["test"]["services"].keys()
    assert "-m e2e" in json.dumps(ci["jobs"]["browser"]["steps"])
    release = workflows["release.yml"]
    assert release["on"]["push"]["tags"] == ["v*"]
    steps = release["jobs"]["image"]["steps"]
    assert any(step.get("uses", "").startswith("docker/build-push-action") and step["with"]["push"] is True for step in steps)


# --- Kubernetes ----------------------------------------------------------------------------------

def k8s_resources() -> list[dict]:
    out = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


def test_kubernetes_manifests_follow_the_kubernetes_schemas():
    import kubernetes_validate

    resources_ = k8s_resources()
    for resource in resources_:
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources_}
    assert {("Deployment", "cleara-web"), ("Deployment", "cleara-worker"), ("Service", "cleara-web"), ("Ingress", "cleara"),
            ("HorizontalPodAutoscaler", "cleara-web"), ("HorizontalPodAutoscaler", "cleara-worker"),
            ("PodDisruptionBudget", "cleara-web"), ("ConfigMap", "cleara-config"), ("Job", "cleara-migrate")} <= kinds
    kustomization = yaml.safe_load((DEPLOY / "kubernetes/kustomization.yaml").read_text())
    assert {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"} == set(kustomization["resources"])


def test_kubernetes_workloads_probe_scale_and_reference_config_consistently():
    from django.urls import resolve

    resources_ = k8s_resources()
    by = {(r["kind"], r["metadata"]["name"]): r for r in resources_}
    commands = _entrypoint_commands()
    for name in ("cleara-web", "cleara-ingest-web", "cleara-worker"):
        pod = by[("Deployment", name)]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["livenessProbe"] and container["readinessProbe"]
        assert container["args"][0] in commands
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs == {"cleara-config", "cleara-secrets"}
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        # Each PDB and HPA points at a Deployment that exists, with matching labels.
        pdb = by[("PodDisruptionBudget", name)]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert by[("HorizontalPodAutoscaler", name)]["spec"]["scaleTargetRef"]["name"] == name
    web = by[("Deployment", "cleara-web")]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        path = web[probe]["httpGet"]["path"].split("?")[0]
        assert resolve(path).url_name in ("healthz", "readyz")
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz?skip=worker"
    worker = by[("Deployment", "cleara-worker")]["spec"]["template"]["spec"]["containers"][0]
    assert worker["livenessProbe"]["exec"]["command"] == ["python", "-m", "cleara.health", "worker-alive"]
    hpa_web = by[("HorizontalPodAutoscaler", "cleara-web")]["spec"]["metrics"][0]
    assert hpa_web["resource"]["name"] == "cpu"
    hpa_worker = by[("HorizontalPodAutoscaler", "cleara-worker")]["spec"]["metrics"][0]
    assert hpa_worker["external"]["metric"]["name"] == "cleara_queue_lag_seconds"
    service = by[("Service", "cleara-web")]
    assert service["spec"]["selector"].items() <= by[("Deployment", "cleara-web")]["spec"]["template"]["metadata"]["labels"].items()
    ingress = by[("Ingress", "cleara")]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == stack.client_max_body()
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # WebSockets
    routes = {path["path"]: path["backend"]["service"]["name"] for path in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert routes == {"/api/v1/events": "cleara-ingest-web", "/api/v1/integrations/alertmanager": "cleara-ingest-web", "/": "cleara-web"}
    for name in set(routes.values()):
        assert by[("Service", name)]["spec"]["selector"].items() <= by[("Deployment", name)]["spec"]["template"]["metadata"]["labels"].items()
    assert by[("ConfigMap", "cleara-config")]["data"]["CLEARA_DEMO"] == "0"


# --- nginx -----------------------------------------------------------------------------------------

def test_nginx_configuration_passes_nginx_t_in_http_and_tls_form(tmp_path):
    need("nginx")
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("cleara.example.com")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    (tmp_path / "www" / "static").mkdir(parents=True)
    main = stack.nginx_prepare(tmp_path / "nginx", http_port=stack.free_port(), upstreams=[stack.free_port(), stack.free_port()],
                               ingest_upstreams=[stack.free_port()], web_root=tmp_path / "www", tls=(stack.free_port(), tmp_path / "cert.pem", tmp_path / "key.pem"))
    output = stack.nginx_test(main)
    assert "syntax is ok" in output and "test is successful" in output
    rendered = (tmp_path / "nginx/conf.d/cleara.conf").read_text()
    # The body limit matches the app's: nginx lets through every request Django would read.
    limit = int(re.search(r"client_max_body_size (\d+)m;", rendered).group(1)) * 1024 * 1024
    assert limit == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert rendered.count("server 127.0.0.1:") == 3
    locations = (DEPLOY / "nginx/cleara/locations.conf").read_text()
    # Ingest (the API's events and the Alertmanager webhook) to the ingest tier; everything else to daphne.
    passes = dict(re.findall(r"location ([^{]+?) \{\s*proxy_pass http://(\w+);", locations))
    assert passes == {"/ws/": "cleara_web", "= /api/v1/events": "cleara_ingest", "= /api/v1/integrations/alertmanager": "cleara_ingest",
                      "/": "cleara_web"}, passes
    assert "location /ws/" in locations and "location = /metrics" in locations
    assert "$connection_upgrade" in (DEPLOY / "nginx/cleara/proxy.conf").read_text()


def test_a_template_variable_without_a_value_is_an_error():
    with pytest.raises(KeyError, match="CLEARA_WEB_ROOT"):
        stack.template_render("root ${CLEARA_WEB_ROOT}; set $x $host;", {})
    assert stack.template_render("root ${CLEARA_WEB_ROOT}; set $x $host;", {"CLEARA_WEB_ROOT": "/srv"}) == "root /srv; set $x $host;"


# --- Prometheus ------------------------------------------------------------------------------------

def test_prometheus_configuration_and_alerting_rules_pass_promtool(tmp_path):
    need("promtool")
    rules = DEPLOY / "prometheus/rules"
    check = subprocess.run(["promtool", "check", "rules", str(rules / "cleara.rules.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 9 rules found" in check.stdout
    unit = subprocess.run(["promtool", "test", "rules", "cleara.rules.test.yml"], cwd=rules, capture_output=True, text=True)
    assert unit.returncode == 0, unit.stdout + unit.stderr
    token = tmp_path / "token"
    token.write_text("t")
    config = stack.prometheus_config(targets=["127.0.0.1:1"], self_target="127.0.0.1:2", token_file=token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    check = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # The compose file as shipped (DNS discovery of the web replicas) is valid too, token file aside.
    shipped = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    shipped["scrape_configs"][0]["authorization"]["credentials_file"] = str(token)
    shipped["rule_files"] = [str(DEPLOY / "prometheus" / p) for p in shipped["rule_files"]]
    (tmp_path / "shipped.yml").write_text(yaml.safe_dump(shipped))
    check = subprocess.run(["promtool", "check", "config", str(tmp_path / "shipped.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# --- Grafana ---------------------------------------------------------------------------------------

def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana/dashboards/cleara.json").read_text())


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    return [(panel["title"], target["expr"]) for panel in dashboard()["panels"] for target in panel["targets"]]


def test_grafana_dashboard_is_well_formed_and_wired_to_the_provisioned_data_source():
    board = dashboard()
    assert board["uid"] and board["title"] == "Cleara" and isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, panel["title"]
        cover = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cover & cells, f"{panel['title']} overlaps another panel"
        cells |= cover
        assert panel["type"] in ("timeseries", "stat") and panel["targets"]
        assert all(t["refId"] and t["expr"] for t in panel["targets"])
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    variable = next(v for v in board["templating"]["list"] if v["type"] == "datasource")
    assert variable["current"]["value"] == datasource["uid"] and datasource["type"] == "prometheus"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/cleara.yml").read_text())["providers"][0]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in compose["services"]["grafana"]["volumes"]


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_the_rules_name_is_exposed(client):
    from django.utils import timezone
    from django_q.models import Task

    from correlation.models import ModelVersion

    # The families read from the database have samples once there is something to count.
    ModelVersion.objects.create(kind="anomaly", version=1, active=True, metrics={"points": 10, "points_per_second": 5.0})
    Task.objects.create(id="t" * 32, name="t", func="math.floor", started=timezone.now(), stopped=timezone.now(), success=True)
    exposed = set()
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").content.decode()):
        exposed |= {sample.name for sample in family.samples}
    # Families with labels but no samples yet (nothing ingested in this test) are exposed by name.
    from cleara import metrics

    for collector in (metrics.EVENTS_INGESTED, metrics.REQUEST_SECONDS):
        for family in collector.describe():
            exposed |= {family.name + suffix for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/cleara.rules.yml").read_text())
    queries = [expr for _, expr in dashboard_queries()] + [r["expr"] for g in rules["groups"] for r in g["rules"]]
    named = {name for expr in queries for name in re.findall(r"\b((?:cleara|process)_[a-z_]+)", expr)}
    assert named, "no metric named"
    assert named - exposed == set()
