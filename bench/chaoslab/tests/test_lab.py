"""The lab's service fails for real when told to, and the injection log labels what it caused."""
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.chaoslab import lab


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def service(tmp_path):
    port = _free_port()
    cfg = {"name": "t", "port": port, "disk_dir": str(tmp_path), "disk_cap": 200_000}
    proc = subprocess.Popen([sys.executable, str(lab.SERVICE_PY), json.dumps(cfg)], stdout=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    lab.wait_http(base + "/metrics", timeout=30)
    yield base, proc
    proc.kill()
    proc.wait()


def _status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_injected_errors_and_a_full_disk_fail_requests_and_show_in_metrics_and_logs(service):
    base, proc = service
    assert _status(base + "/work") == 200
    lab.http_json(base + "/fault", {"errors": 1.0})
    assert _status(base + "/work") == 500
    lab.http_json(base + "/fault", {"clear": True})
    assert _status(base + "/work") == 200
    lab.http_json(base + "/fault", {"disk_fill": True})
    assert _status(base + "/work") == 500
    metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    assert 'http_requests_total{code="500"} 2.0' in metrics
    assert "disk_free_ratio 0.0" in metrics
    proc.kill()
    logs = [json.loads(line) for line in proc.stdout.read().splitlines()]
    assert any(r["level"] == "error" and "no space left on device" in r["msg"] for r in logs)


def _alert(eid, ts, service, status, fp="am:HighErrorRate:x", starts=None):
    return {"id": eid, "timestamp": ts, "service": service, "type": "alert", "severity": "critical" if status == "firing" else "info",
            "message": "m", "fingerprint": fp, "attributes": {"alert_status": status, "starts_at": starts or ts}}


def test_labels_go_to_the_fault_whose_cone_and_time_hold_the_event(tmp_path: Path):
    faults = [
        {"id": "f1", "kind": "process_crash", "root_service": "orders", "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:02:00Z"},
        {"id": "f2", "kind": "consumer_stall", "root_service": "fulfil-worker", "start": "2026-01-01T10:01:00Z", "end": "2026-01-01T10:03:00Z"},
    ]
    events = [
        _alert("a1", "2026-01-01T10:00:30Z", "api", "firing", fp="am:X:api"),  # a caller of orders
        _alert("a2", "2026-01-01T10:00:40Z", "catalog", "firing", fp="am:X:cat"),  # not in any cone: noise
        _alert("a3", "2026-01-01T10:01:30Z", "queue", "firing", fp="am:Q:queue"),  # backlog of the stalled worker
        _alert("a4", "2026-01-01T10:20:00Z", "api", "resolved", fp="am:X:api", starts="2026-01-01T10:00:30Z"),  # late, follows a1
        _alert("a5", "2026-01-01T11:00:00Z", "orders", "firing", fp="am:Y:orders"),  # after every window: noise
        {"id": "l1", "timestamp": "2026-01-01T10:00:10Z", "service": "orders", "type": "log", "severity": "critical", "message": "x"},
        {"id": "l2", "timestamp": "2026-01-01T10:00:10Z", "service": "orders", "type": "log", "severity": "info", "message": "x"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    truth = lab.label(path, faults, seed=1)
    by_id = {f["id"]: f for f in truth["faults"]}
    assert by_id["f1"]["alert_ids"] == ["a1", "a4"] and by_id["f1"]["event_ids"] == ["a1", "a4", "l1"]
    assert by_id["f2"]["alert_ids"] == ["a3"]
    assert sorted(truth["noise_alert_ids"]) == ["a2", "a5"]
    assert truth["counts"] == {"events": 7, "alerts": 5, "logs": 2, "metrics": 0}
    assert truth["invisible"] == []
