"""Shared settings for tests against fake-gcs-server."""

from __future__ import annotations

from tests.standins.gcs import FakeGCS
from upload.sinks import GCSSink, make_retry

BUCKET = "fedtest-results"
METADATA = {"job-version": "v1.31.2", "provider": "kind", "infra-commit": "0123456789"}


def gcs_sink(server: FakeGCS, url: str | None = None, timeout: float = 10.0) -> GCSSink:
    """A sink on the emulator (or on a proxy in front of it) with fast backoff for tests."""
    return GCSSink(
        BUCKET,
        client=server.client(url),
        timeout=timeout,
        retry=make_retry(initial=0.01, maximum=0.2, multiplier=2.0, timeout=60.0),
    )
