"""Prometheus metrics of one controller (its own registry, served on /metrics by `serve`)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.in_flight = Gauge("sc_calls_in_flight", "Calls in progress", registry=self.registry)
        self.originates = Counter("sc_originates_total", "Originates sent", ["node"],
                                  registry=self.registry)
        self.outcomes = Counter("sc_call_outcomes_total", "Finished attempts by outcome",
                                ["outcome"], registry=self.registry)
        self.listened = Histogram("sc_listened_seconds", "Seconds listened per answered call",
                                  buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120),
                                  registry=self.registry)
        self.agi_refused_total = Counter(
            "sc_agi_refused_total", "FastAGI sessions refused: not a node's address (peer) or "
            "without the installation token (token)", ["reason"], registry=self.registry)
        self.ami_up = Gauge("sc_ami_connected", "1 when the AMI link to the node is up", ["node"],
                            registry=self.registry)

    def agi_refused(self, reason: str) -> None:
        self.agi_refused_total.labels(reason).inc()

    def originated(self, node: str) -> None:
        self.originates.labels(node).inc()
        self.in_flight.inc()

    def finished(self, outcome: str) -> None:
        self.outcomes.labels(outcome).inc()
        self.in_flight.dec()

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
