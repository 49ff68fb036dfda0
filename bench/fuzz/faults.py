"""What each kind of fault looks like from the outside: at the service where it starts (the root)
and at the services it reaches (callers, or a broker for a stalled consumer).

An alert rule is (alertname, severity, pending seconds before it fires, one alert per host?);
log lines are templates filled with the dependency being called (`{dep}`), a host and numbers. The
wording is that of common software (Go's net package, HikariCP, PostgreSQL, the JVM, Envoy, the
Linux kernel), not the engine's pattern library: the point is to see what the engine makes of
telemetry it was not written for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

Rule = tuple[str, str, int, bool]


@dataclass(frozen=True)
class Face:
    """How a service shows a fault: alert rules, error-log templates, metric effects (metric -> factor or level)."""

    alerts: tuple[Rule, ...] = ()
    logs: tuple[str, ...] = ()
    warn_logs: tuple[str, ...] = ()
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    name: str
    roles: tuple[str, ...]
    root: Face
    caller: Face
    # "callers": spreads to dependants hop by hop; "all_dependants": a shared layer (DNS, mesh, a node
    # pool) hits its direct dependants nearly at once; "broker": a stalled consumer backs up its broker.
    spread: str = "callers"


CALLER_TIMEOUT = Face(
    alerts=(("HighRequestLatency", "warning", 120, False), ("HTTP5xxRateHigh", "critical", 90, False)),
    logs=(
        "context deadline exceeded (Client.Timeout exceeded while awaiting headers) calling {dep}",
        "upstream request timeout after {ms}ms: GET http://{dep}/v1/items",
        "circuit breaker OPEN for {dep} after {n} consecutive failures",
    ),
    warn_logs=("retrying request to {dep} (attempt {n}/5)",),
    metrics={"latency_p99": 6.0, "error_ratio": 0.12},
)
CALLER_REFUSED = Face(
    alerts=(("HTTP5xxRateHigh", "critical", 60, False), ("UpstreamUnavailable", "warning", 60, False)),
    logs=(
        "dial tcp {ip}:{port}: connect: connection refused ({dep})",
        "503 Service Unavailable from {dep}: no healthy upstream",
        "failed to call {dep}: EOF",
    ),
    warn_logs=("retrying request to {dep} (attempt {n}/5)",),
    metrics={"error_ratio": 0.35, "latency_p99": 1.5},
)

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("process_crash", ("app", "worker", "front", "store", "cache"),
         root=Face(alerts=(("InstanceDown", "critical", 60, True), ("PodCrashLooping", "warning", 180, False)),
                   logs=("process exited with status 137 (SIGKILL)", "Back-off restarting failed container {svc}",
                         "panic: runtime error: invalid memory address or nil pointer dereference"),
                   metrics={"up": 0.0, "error_ratio": 1.0}),
         caller=CALLER_REFUSED),
    Kind("latency_injection", ("app", "worker", "front", "store", "cache"),
         root=Face(alerts=(("HighRequestLatency", "warning", 180, False),),
                   logs=("slow request: POST /v1/{svc} took {ms}ms", "handler exceeded deadline of 2s"),
                   warn_logs=("request queue depth {n}",), metrics={"latency_p99": 12.0, "cpu": 1.3}),
         caller=CALLER_TIMEOUT),
    Kind("error_injection", ("app", "front", "worker"),
         root=Face(alerts=(("HTTP5xxRateHigh", "critical", 90, False),),
                   logs=("Internal Server Error: /v1/{svc}/{n}", "Traceback (most recent call last): ValueError: invalid literal for int()",
                         "unhandled exception in request handler: KeyError('tenant_id')"),
                   metrics={"error_ratio": 0.4}),
         caller=CALLER_REFUSED),
    Kind("pool_exhaustion", ("app", "worker"),
         root=Face(alerts=(("DBConnectionPoolSaturated", "warning", 120, False), ("HighRequestLatency", "warning", 180, False)),
                   logs=("HikariPool-1 - Connection is not available, request timed out after 30000ms.",
                         "sqlalchemy.exc.TimeoutError: QueuePool limit of size 20 overflow 10 reached, connection timed out",
                         "timeout acquiring connection from pool ({n}/{n} in use)"),
                   metrics={"pool_in_use": 1.0, "latency_p99": 8.0}),
         caller=CALLER_TIMEOUT),
    Kind("disk_full", ("store", "broker", "app"),
         root=Face(alerts=(("DiskSpaceCritical", "critical", 60, True), ("DiskWillFillIn4Hours", "warning", 300, True)),
                   logs=("could not extend file \"base/16384/2619\": No space left on device",
                         "write /var/lib/{svc}/wal/000000010000: no space left on device",
                         "PANIC: could not write to file \"pg_wal/xlogtemp.{n}\": No space left on device"),
                   metrics={"disk_used": 1.0, "error_ratio": 0.5}),
         caller=CALLER_REFUSED),
    Kind("cpu_hog", ("app", "worker", "store", "front"),
         root=Face(alerts=(("CPUThrottlingHigh", "warning", 300, True), ("HighRequestLatency", "warning", 180, False)),
                   logs=("GC overhead: pause {ms}ms", "event loop blocked for {ms}ms"),
                   warn_logs=("container cpu throttled {n}% of periods",), metrics={"cpu": 3.0, "latency_p99": 5.0}),
         caller=CALLER_TIMEOUT),
    Kind("memory_leak", ("app", "worker"),
         root=Face(alerts=(("ContainerOOMKilled", "critical", 0, True), ("MemoryUsageHigh", "warning", 300, True)),
                   logs=("java.lang.OutOfMemoryError: Java heap space", "Out of memory: Killed process {n} ({svc})",
                         "fatal error: runtime: out of memory"),
                   metrics={"memory": 1.0, "error_ratio": 0.2}),
         caller=CALLER_REFUSED),
    Kind("bad_deploy", ("app", "front", "worker"),
         root=Face(alerts=(("HTTP5xxRateHigh", "critical", 60, False),),
                   logs=("TypeError: Cannot read properties of undefined (reading 'id')", "schema mismatch: column \"region\" does not exist",
                         "ImportError: cannot import name 'Client' from partially initialized module"),
                   metrics={"error_ratio": 0.6}),
         caller=CALLER_REFUSED),
    Kind("blackhole", ("app", "store", "cache", "broker", "worker"),
         # Packets dropped: the service says nothing (it is unreachable, its logs do not leave the
         # host); its callers hang until their timeouts.
         root=Face(alerts=(("TargetDown", "warning", 300, False),), metrics={}),
         caller=CALLER_TIMEOUT),
    Kind("third_party_outage", ("thirdparty",),
         root=Face(),
         caller=Face(alerts=(("ExternalAPIErrors", "warning", 120, False), ("HighRequestLatency", "warning", 180, False)),
                     logs=("POST https://{dep}.example.com/v1/charges: 503 Service Unavailable",
                           "request to {dep} failed: read tcp {ip}:443: i/o timeout",
                           "{dep} returned 502 Bad Gateway (attempt {n})"),
                     warn_logs=("retrying {dep} call after {ms}ms backoff",), metrics={"error_ratio": 0.25, "latency_p99": 4.0})),
    Kind("dns_failure", ("dns",),
         root=Face(alerts=(("CoreDNSErrorsHigh", "warning", 240, False),),
                   logs=("plugin/errors: 2 {svc}.svc. A: read udp {ip}:53: i/o timeout",), metrics={"error_ratio": 0.6}),
         caller=Face(alerts=(("HTTP5xxRateHigh", "critical", 90, False),),
                     logs=("dial tcp: lookup {dep}.svc.cluster.local on 10.96.0.10:53: no such host",
                           "getaddrinfo EAI_AGAIN {dep}", "Temporary failure in name resolution"),
                     metrics={"error_ratio": 0.3}),
         spread="all_dependants"),
    Kind("mesh_failure", ("mesh",),
         root=Face(alerts=(("ProxyConfigRejected", "warning", 300, False),),
                   logs=("gRPC config stream closed: 14, connection error",), metrics={"error_ratio": 0.3}),
         caller=Face(alerts=(("HTTP5xxRateHigh", "critical", 60, False),),
                     logs=("upstream connect error or disconnect/reset before headers. reset reason: connection failure",
                           "503 UC upstream_reset_before_response_started{{connection_failure}}"),
                     metrics={"error_ratio": 0.4}),
         spread="all_dependants"),
    Kind("node_pool_failure", ("pool",),
         root=Face(alerts=(("KubeNodeNotReady", "warning", 300, True),),
                   logs=("Node {svc} status is now: NodeNotReady",), metrics={"up": 0.0}),
         caller=Face(alerts=(("InstanceDown", "critical", 60, True),),
                     logs=("Readiness probe failed: Get \"http://{ip}:8080/healthz\": dial tcp {ip}:8080: connect: no route to host",
                           "pod evicted: node was low on resource"),
                     metrics={"up": 0.0, "error_ratio": 0.5}),
         spread="all_dependants"),
    Kind("consumer_stall", ("worker",),
         root=Face(alerts=(("WorkerHeartbeatMissing", "warning", 600, False),),
                   logs=("consumer poll timeout exceeded; leaving group", "Revoking previously assigned partitions"),
                   metrics={"throughput": 0.05}),
         caller=Face(alerts=(("ConsumerLagHigh", "warning", 120, False),),
                     warn_logs=("consumer group {dep}-group lag {n} messages",), metrics={"lag": 40.0}),
         spread="broker"),
    Kind("broker_down", ("broker",),
         root=Face(alerts=(("InstanceDown", "critical", 60, True), ("UnderReplicatedPartitions", "warning", 120, False)),
                   logs=("Shutdown broker because all log dirs in /var/lib/{svc} have failed",), metrics={"up": 0.0}),
         caller=Face(alerts=(("PublishErrors", "critical", 90, False),),
                     logs=("failed to publish message: broker not available ({dep})", "kafka: client has run out of available brokers to talk to"),
                     metrics={"error_ratio": 0.3}),
    ),
)}
