"""The catalogue of known failure modes (incident types and patterns) that the console shows and
the correlation engine matches (correlation.patterns compiles them).

The built-in patterns below are loaded into the `Pattern` table by a data migration (origin
"builtin") and are editable in the admin; curated and learned patterns live in the same table.
`signals` holds how a pattern is recognised: `keywords` (matched at the start of a word in the
text of a service's signals), `metrics` (names of misbehaving metrics) and `tiers` (the kinds of
service where this failure usually starts).
"""
from __future__ import annotations

BUILTIN_PATTERNS: list[dict] = [
    {
        "slug": "db-connection-pool-exhaustion",
        "name": "Database connection-pool exhaustion",
        "incident_type": "database",
        "description": "Clients cannot get a database connection: the pool or the server's connection slots are used up, "
        "so requests queue, time out and fail in every service that talks to the database.",
        "signals": {
            "keywords": [
                "connection pool", "pool exhausted", "too many connections", "remaining connection slots",
                "could not obtain connection", "timeout acquiring connection", "max_connections",
                "connection slots", "hikaripool", "sorry, too many clients",
            ],
            "metrics": ["db_connections", "db_connections_active", "db_pool_wait_ms", "pg_stat_activity_count", "db_pool_usage_pct"],
            "tiers": ["database"],
        },
        "remediation": [
            "Check active connections against max_connections (pg_stat_activity) and find the clients holding the most.",
            "Kill idle-in-transaction sessions and long-running queries that pin connections.",
            "Restart or scale down the client that leaks connections; put PgBouncer (transaction pooling) in front if it is missing.",
            "Raise the pool size only after the leak is found, and set pool timeouts so that callers fail fast.",
        ],
        "runbook_url": "https://www.postgresql.org/docs/current/runtime-config-connection.html",
    },
    {
        "slug": "memory-leak-oom",
        "name": "Memory leak / OOM kills",
        "incident_type": "resource",
        "description": "A process's memory grows until the kernel or Kubernetes kills it (OOMKilled); pods restart in a loop "
        "and requests in flight fail.",
        "signals": {
            "keywords": [
                "oomkilled", "out of memory", "oom", "outofmemoryerror", "memory limit", "cannot allocate memory",
                "heap space", "memory usage above", "killed process",
            ],
            "metrics": ["memory_pct", "memory_rss_bytes", "container_memory_working_set_bytes", "heap_used_bytes", "pod_restarts"],
            "tiers": ["backend", "frontend", "edge"],
        },
        "remediation": [
            "Confirm OOM kills: kubectl describe pod (Last State: OOMKilled) and the memory graph of the last hours.",
            "Roll back the last deploy if memory growth began with it.",
            "Raise the memory limit temporarily and restart the pods in turn to buy time.",
            "Take a heap profile before the next kill and fix the leak.",
        ],
        "runbook_url": "https://kubernetes.io/docs/tasks/configure-pod-container/assign-memory-resource/",
    },
    {
        "slug": "bad-deploy",
        "name": "Bad deploy",
        "incident_type": "change",
        "description": "A new release broke something: errors or latency jump right after a rollout of the service.",
        "signals": {
            "keywords": [
                "deploy", "rollout", "rolled out", "new revision", "release v", "version v", "image updated",
                "canary", "unhandled exception", "nullpointerexception", "typeerror", "panic:",
            ],
            "metrics": ["http_5xx_rate", "deploy_events"],
            "tiers": ["backend", "frontend", "edge"],
        },
        "remediation": [
            "Compare the error onset with the deploy time of the service (kubectl rollout history).",
            "Roll back: kubectl rollout undo deployment/<service>, or flip the feature flag off.",
            "Stop the deploy pipeline until the cause is understood; keep the bad revision for analysis.",
        ],
        "runbook_url": "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-a-deployment",
    },
    {
        "slug": "disk-full",
        "name": "Disk full",
        "incident_type": "resource",
        "description": "A volume ran out of space: writes fail, databases stop accepting writes, logs are lost.",
        "signals": {
            "keywords": [
                "no space left on device", "disk full", "disk usage", "enospc", "could not extend file",
                "read-only file system", "filesystem full", "volume full", "disk quota",
            ],
            "metrics": ["disk_used_pct", "disk_free_bytes", "node_filesystem_avail_bytes"],
            "tiers": ["database", "queue", "search"],
        },
        "remediation": [
            "Find what grew: du -xh --max-depth=1 on the volume, WAL/segment directories, logs.",
            "Free space safely: rotate and compress logs, drop old snapshots, lower retention.",
            "Expand the volume (PVC resize) and add an alert on the growth rate, not only the level.",
        ],
        "runbook_url": "https://www.postgresql.org/docs/current/disk-full.html",
    },
    {
        "slug": "certificate-expiry",
        "name": "Certificate expiry",
        "incident_type": "security",
        "description": "A TLS certificate expired (or the chain is broken): every client of the endpoint fails its handshake.",
        "signals": {
            "keywords": [
                "certificate has expired", "certificate expired", "x509", "certificate verify failed",
                "tls handshake", "ssl handshake", "cert expir", "certificate is not valid",
            ],
            "metrics": ["ssl_cert_expiry_days", "probe_ssl_earliest_cert_expiry", "tls_handshake_errors"],
            "tiers": ["edge", "external", "gateway"],
        },
        "remediation": [
            "Check the served certificate: openssl s_client -connect host:443 -servername host | openssl x509 -noout -dates.",
            "Renew and deploy the certificate (cert-manager: kubectl cert-manager renew <cert>).",
            "Add an expiry alert at 21 and 7 days on every endpoint.",
        ],
        "runbook_url": "https://cert-manager.io/docs/troubleshooting/",
    },
    {
        "slug": "dns-failure",
        "name": "DNS failure",
        "incident_type": "network",
        "description": "Name resolution fails or is slow: calls to other services and providers fail before they start.",
        "signals": {
            "keywords": [
                "no such host", "servfail", "nxdomain", "name resolution", "could not resolve", "dns",
                "temporary failure in name resolution", "lookup timed out",
            ],
            "metrics": ["dns_errors", "dns_latency_ms", "coredns_dns_responses_servfail"],
            "tiers": ["dns"],
        },
        "remediation": [
            "Test resolution from an affected pod: nslookup <service> and the upstream resolvers.",
            "Check CoreDNS pods (restarts, CPU, cache) and scale them up.",
            "Check upstream resolver health and recent changes to DNS records or network policies.",
        ],
        "runbook_url": "https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/",
    },
    {
        "slug": "network-partition",
        "name": "Network partition",
        "incident_type": "network",
        "description": "Part of the network cannot reach another part: connections time out, clusters lose quorum.",
        "signals": {
            "keywords": [
                "network partition", "partition detected", "no route to host", "network is unreachable",
                "host unreachable", "lost quorum", "split brain", "i/o timeout", "connection timed out",
                "heartbeat timeout", "isr shrink",
            ],
            "metrics": ["packet_loss_pct", "tcp_retransmits", "network_errors", "under_replicated_partitions"],
            "tiers": ["queue", "cache", "database", "search"],
        },
        "remediation": [
            "Map who cannot reach whom (per zone/node) and check recent network, firewall or security-group changes.",
            "Fail over or fence the isolated side; avoid writes on a side without quorum.",
            "After the heal, check replication and under-replicated partitions catch up.",
        ],
        "runbook_url": "https://kubernetes.io/docs/tasks/debug/debug-application/debug-service/",
    },
    {
        "slug": "cache-eviction-storm",
        "name": "Cache eviction storm",
        "incident_type": "capacity",
        "description": "The cache is full and evicts hot keys: the hit ratio collapses and the load falls through to the database.",
        "signals": {
            "keywords": [
                "evict", "maxmemory", "cache miss", "hit ratio", "hit rate", "cache stampede", "keys evicted",
            ],
            "metrics": ["cache_hit_ratio", "evicted_keys", "redis_evicted_keys_total", "cache_memory_pct"],
            "tiers": ["cache"],
        },
        "remediation": [
            "Check used_memory against maxmemory and the eviction rate (INFO memory, INFO stats).",
            "Find the keys that grew (redis-cli --bigkeys) and cap their TTL or size.",
            "Scale the cache or raise maxmemory; add request coalescing in front of the database.",
        ],
        "runbook_url": "https://redis.io/docs/latest/develop/reference/eviction/",
    },
    {
        "slug": "queue-backlog",
        "name": "Queue backlog",
        "incident_type": "capacity",
        "description": "Consumers fall behind their queue: lag grows, work is delayed, and retries pile on.",
        "signals": {
            "keywords": [
                "consumer lag", "backlog", "queue depth", "messages behind", "rebalance", "queue full",
                "lag above", "processing delayed",
            ],
            "metrics": ["consumer_lag", "queue_depth", "kafka_consumergroup_lag", "processing_delay_s"],
            "tiers": ["backend", "queue"],
        },
        "remediation": [
            "Find the lagging consumer group and partition (kafka-consumer-groups --describe).",
            "Scale the consumers (up to the partition count) or fix the slow handler.",
            "Pause non-critical producers; skip or park poison messages in a dead-letter queue.",
        ],
        "runbook_url": "https://kafka.apache.org/documentation/#basic_ops_consumer_group",
    },
    {
        "slug": "cpu-throttling",
        "name": "CPU throttling",
        "incident_type": "resource",
        "description": "A container hits its CPU limit and is throttled by the CFS quota: latency climbs without errors at first.",
        "signals": {
            "keywords": [
                "cpu throttl", "throttled", "cfs quota", "cpu limit", "cpu saturation", "high cpu",
            ],
            "metrics": ["cpu_throttled_pct", "container_cpu_cfs_throttled_seconds_total", "cpu_pct"],
            "tiers": ["backend", "frontend", "search"],
        },
        "remediation": [
            "Compare CPU usage with the limit and the throttled periods (container_cpu_cfs_throttled_periods_total).",
            "Raise the CPU limit or remove it (keep the request), or scale out.",
            "Look for a hot loop or an expensive new code path if usage itself jumped.",
        ],
        "runbook_url": "https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/",
    },
    {
        "slug": "slow-third-party",
        "name": "Slow third-party dependency",
        "incident_type": "dependency",
        "description": "An outside provider is slow or failing: calls to it time out and the services that wait on it back up.",
        "signals": {
            "keywords": [
                "third-party", "provider", "external api", "upstream timeout", "timed out calling",
                "slow response from", "circuit breaker", "gateway timeout", "status page",
            ],
            "metrics": ["upstream_latency_ms", "external_latency_ms", "probe_duration_seconds"],
            "tiers": ["external"],
        },
        "remediation": [
            "Check the provider's status page and the latency/error rate of calls to it.",
            "Open the circuit breaker or switch to the fallback provider; shorten client timeouts.",
            "Queue the work for retry instead of holding requests; tell the provider's support.",
        ],
        "runbook_url": "https://learn.microsoft.com/en-us/azure/architecture/patterns/circuit-breaker",
    },
]


def builtin_patterns_install(pattern_model=None) -> int:
    """Create the built-in patterns that are missing (by slug); never overwrites edits made in the admin.

    Takes the model class so that the data migration can pass its historical model. Returns how
    many were created.
    """
    if pattern_model is None:
        from incidents.models import Pattern as pattern_model
    existing = set(pattern_model.objects.values_list("slug", flat=True))
    missing = [
        pattern_model(
            slug=p["slug"], name=p["name"], incident_type=p["incident_type"], description=p["description"],
            signals=p["signals"], remediation=p["remediation"], runbook_url=p["runbook_url"], origin="builtin",
        )
        for p in BUILTIN_PATTERNS
        if p["slug"] not in existing
    ]
    pattern_model.objects.bulk_create(missing)
    return len(missing)
