"""The stand-in's pods/exec endpoint (tests/standins/execstream.py) as the official client sees it:
kubernetes.stream.stream() unchanged, over a real websocket, with the channel protocol."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import websocket
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL

from e2e.framework import builders, waits
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins.execstream import Fault
from tests.standins.kubelet import FakeKubelet

POD = "shell"


def running_pod(kubelet: FakeKubelet, east: client.ApiClient) -> client.CoreV1Api:
    builders.create(east, NAMESPACE, builders.pod(POD, builders.pod_spec([
        builders.container("main", "busybox", ["sh", "-c", "sleep 30"], pull_policy="IfNotPresent",
                           env={"GREETING": "hello from the container"}),
        builders.container("side", "busybox", ["sh", "-c", "sleep 30"], pull_policy="IfNotPresent")])))
    waits.pod_phase(east, NAMESPACE, POD, ["Running"], 30)
    return client.CoreV1Api(east)


@pytest.fixture
def kubelet(clusters: Clusters) -> Iterator[FakeKubelet]:
    with clusters.kubelet("east") as kubelet:
        yield kubelet


def test_exec_runs_in_the_named_container_and_streams_both_channels(kubelet: FakeKubelet,
                                                                    east: client.ApiClient) -> None:
    core = running_pod(kubelet, east)
    out = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, container="main",
                 command=["sh", "-c", 'echo "$GREETING"; echo to-stderr >&2'], stdout=True, stderr=True,
                 stdin=False, tty=False)
    assert "hello from the container" in out and "to-stderr" in out
    session = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, container="side",
                     command=["sh", "-c", "exit 7"], stdout=True, stderr=True, stdin=False, tty=False,
                     _preload_content=False, binary=True)
    session.run_forever(10)
    assert session.returncode == 7  # read from the Status on channel 3
    assert session.subprotocol == "v5.channel.k8s.io"  # the first of the client's list a 1.30+ server speaks
    assert [(s.container, s.command[-1]) for s in kubelet.exec.sessions] == [
        ("main", 'echo "$GREETING"; echo to-stderr >&2'), ("side", "exit 7")]


def test_a_v4_server_negotiates_v4_and_large_output_arrives_whole(clusters: Clusters,
                                                                   east: client.ApiClient) -> None:
    with clusters.kubelet("east", exec_options={"protocols": ("v4.channel.k8s.io",)}) as kubelet:
        core = running_pod(kubelet, east)
        session = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, container="main",
                         command=["head", "-c", "3000000", "/dev/zero"], stdout=True, stderr=True, stdin=False,
                         tty=False, _preload_content=False, binary=True)
        received = bytearray()
        while session.is_open():
            session.update(timeout=1)
            received += session.read_stdout(timeout=0)
        assert session.subprotocol == "v4.channel.k8s.io"
        assert (len(received), session.returncode) == (3_000_000, 0)


def test_refusals_come_before_the_upgrade_as_the_api_server_words_them(kubelet: FakeKubelet,
                                                                        east: client.ApiClient) -> None:
    core = running_pod(kubelet, east)
    with pytest.raises(ApiException) as plain:  # a plain GET, no websocket
        core.connect_get_namespaced_pod_exec(POD, NAMESPACE, command=["true"], container="main", stdout=True)
    assert plain.value.status == 400 and "Upgrade request required" in plain.value.body
    with pytest.raises(ApiException, match="not running"):
        stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, container="nosuch", command=["true"],
               stdout=True, stderr=True, stdin=False, tty=False)


def test_a_cut_drops_the_connection_without_a_status(kubelet: FakeKubelet, east: client.ApiClient) -> None:
    core = running_pod(kubelet, east)
    kubelet.exec.faults.append(Fault("cut", after=100_000))
    session = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, container="main",
                     command=["head", "-c", "500000", "/dev/zero"], stdout=True, stderr=True, stdin=False,
                     tty=False, _preload_content=False, binary=True)
    received = bytearray()
    with contextlib.suppress(websocket.WebSocketException, OSError):  # the connection is lost mid-read
        while session.is_open():
            session.update(timeout=1)
            received += session.read_stdout(timeout=0)
    assert len(received) <= 100_000  # what was still buffered when the connection dropped is lost too
    assert session.read_channel(ERROR_CHANNEL) == b""  # no Status: the exit code is unknown
    assert kubelet.exec.faults[0].times == 0
