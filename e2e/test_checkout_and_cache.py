"""Real checkout and a shared cache: runner pods check a repository out at a given commit from a git
server in the cluster (the git image, mirrored through --image-registry like every image), and two jobs
of that repository share the cache volume, the second finding what the first left."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from e2e.framework import gitserver, jobspec
from e2e.framework.runner import JobDescription, Launcher, Step

JOB_TIMEOUT = 300
SERVER_TIMEOUT = 300
COMMITS = [{"VERSION": "1\n", "build.sh": "echo \"built version $(cat VERSION)\"\n"},
           {"VERSION": "2\n"}]
BUILD = ('sh build.sh; if [ -f "$CACHE/deps" ]; then echo "cache hit: $(cat "$CACHE/deps")"; '
         'else echo "cache miss"; echo "deps of version $(cat VERSION)" > "$CACHE/deps"; fi')


def test_checkout_at_a_commit_from_an_in_cluster_git_server_with_a_shared_cache(
        launcher: Launcher, kube: client.ApiClient, namespace: str, record_property: Any) -> None:
    storage_class, why = jobspec.default_storage_class(kube)
    if storage_class is None:
        pytest.skip(f"two jobs can share a cache volume only through a PersistentVolumeClaim, and the cluster "
                    f"has {why}: mark a StorageClass default (storageclass.kubernetes.io/is-default-class)")
    with gitserver.serving(kube, namespace, launcher.images, COMMITS, SERVER_TIMEOUT) as server:
        older, newest = server.commits
        first = launcher.run(JobDescription("checkout-older", server.url, [Step("build", BUILD)],
                                            revision=older), JOB_TIMEOUT)
        second = launcher.run(JobDescription("checkout-newest", server.url, [Step("build", BUILD)],
                                             revision=newest), JOB_TIMEOUT)
    assert (first.phase, second.phase) == ("Succeeded", "Succeeded"), (first, second)
    assert "built version 1" in first.log and "cache miss" in first.log, first.log  # not HEAD: the commit asked
    assert "built version 2" in second.log and "cache hit: deps of version 1" in second.log, second.log
    assert first.cache == second.cache and first.cache.startswith("PersistentVolumeClaim runner-cache-")
    record_property("cache_volume", first.cache)
    record_property("checkout_commits", f"{older[:12]},{newest[:12]}")
