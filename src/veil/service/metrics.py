"""``/metrics``: Prometheus metrics of this replica and of the job store that all replicas share.

This process's counters (jobs it ran, their durations and frame rates, takeovers,
retries, stage seconds, HTTP requests) live in prometheus-client's default
registry. The job store's totals (jobs by state, queue depth) are read at scrape
time and are the same on every replica: aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from veil.errors import VeilError
from veil.jobs import JobStore

HTTP_REQUESTS = Counter(
    "veil_http_requests_total", "HTTP requests answered, by route and status", ["route", "method", "status"]
)
HTTP_SECONDS = Histogram("veil_http_request_duration_seconds", "Seconds to answer an HTTP request", ["route", "method"])


class JobStoreCollector(Collector):
    """Jobs by state and the queue's depth, counted in the job store when Prometheus scrapes."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("veil_job_store_up", "1 if the job store answered this scrape")
        try:
            counts = self.store.counts()
        except VeilError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily(
            "veil_jobs", "Jobs in the job store by state (the same on every replica)", labels=["state"]
        )
        for state, count in counts.items():
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "veil_queue_depth", "Jobs waiting for a worker (the same on every replica)", value=counts["queued"]
        )


def instrument(app: FastAPI, store: JobStore) -> None:
    """Count every request by route template and status, and serve ``GET /metrics``."""
    shared = CollectorRegistry(auto_describe=True)
    shared.register(JobStoreCollector(store))

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        HTTP_SECONDS.labels(route, request.method).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format: this replica's counters, then the job store's totals."""
        return Response(generate_latest(REGISTRY) + generate_latest(shared), media_type=CONTENT_TYPE_LATEST)
