"""The chaos lab: real services, Prometheus and Alertmanager on loopback, faults on a schedule (see `bench.chaoslab.lab`)."""
