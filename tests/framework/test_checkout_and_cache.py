"""The in-cluster git server and the shared cache on the stand-ins: the fake kubelet runs the server's
scripts (real git builds the repository; busybox httpd, absent here, is stood in for by Python's
http.server on loopback) and the runner pods' real `git fetch` of a given commit over HTTP."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e import test_checkout_and_cache as suite
from e2e.framework import builders, gitserver
from e2e.framework.runner import Launcher
from tests.framework.conftest import NAMESPACE, Clusters

STUB_HTTPD = r"""#!/bin/sh
# busybox httpd -f -p ADDRESS:PORT -h DIR, served by Python's http.server
while [ $# -gt 0 ]; do case "$1" in -p) bind=$2; shift ;; -h) dir=$2; shift ;; esac; shift; done
exec python3 -m http.server --bind "${bind%:*}" --directory "$dir" "${bind##*:}"
"""
DEFAULT_CLASS = {"metadata": {"name": "standard",
                              "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                 "provisioner": "example.test/local"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def launcher(clusters: Clusters, east: client.ApiClient, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Launcher:
    """The git server listens on loopback, and runner pods reach it there instead of through its Service."""
    port = free_port()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "httpd").write_text(STUB_HTTPD)
    (bin_dir / "httpd").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gitserver, "PORT", port)
    monkeypatch.setattr(gitserver, "LISTEN", "127.0.0.1")
    monkeypatch.setattr(gitserver, "service_url", lambda _ns: f"http://127.0.0.1:{port}/repo.git")
    with clusters.kubelet("east"):
        yield Launcher(east, NAMESPACE, builders.Images(), tmp_path / "artifacts")


def test_the_suites_checkout_and_cache_test_holds_on_the_stand_ins(launcher: Launcher, east: client.ApiClient,
                                                                   clusters: Clusters) -> None:
    client.StorageV1Api(east).create_storage_class(DEFAULT_CLASS)
    properties: dict[str, Any] = {}
    suite.test_checkout_at_a_commit_from_an_in_cluster_git_server_with_a_shared_cache(
        launcher, east, NAMESPACE, properties.__setitem__)
    assert properties["cache_volume"].startswith("PersistentVolumeClaim runner-cache-")
    left = [o["metadata"]["name"] for kind in ("pods", "services", "configmaps")
            for o in clusters.kube.clusters["east"].objects(kind, NAMESPACE)]
    assert left == []  # the server and every job cleaned up; only the cache claim stays


def test_without_a_default_storage_class_the_test_skips_saying_what_is_missing(launcher: Launcher,
                                                                                east: client.ApiClient) -> None:
    with pytest.raises(pytest.skip.Exception, match="no default StorageClass among 0 StorageClass"):
        suite.test_checkout_at_a_commit_from_an_in_cluster_git_server_with_a_shared_cache(
            launcher, east, NAMESPACE, lambda *_: None)


def test_the_server_pod_is_restricted_and_uses_the_mirrored_images() -> None:
    images = builders.Images(git="mirror.example.test/alpine/git:2.47.2", busybox="mirror.example.test/busybox:1",
                             pull_policy="Never")
    pod = gitserver.server_pod(images)
    (build,), (serve,) = pod["spec"]["initContainers"], pod["spec"]["containers"]
    assert [(c["image"], c["imagePullPolicy"]) for c in (build, serve)] == [
        ("mirror.example.test/alpine/git:2.47.2", "Never"), ("mirror.example.test/busybox:1", "Never")]
    assert all(c["securityContext"]["runAsNonRoot"] is True for c in (build, serve))
    assert pod["spec"]["securityContext"]["runAsUser"] > 0
    assert serve["readinessProbe"]["httpGet"] == {"path": "/repo.git/info/refs", "port": gitserver.PORT}


def test_bad_commit_files_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"file 'src/main\.c' of commit 0: use a flat name"):
        gitserver.seed([{"src/main.c": "int main;"}])
