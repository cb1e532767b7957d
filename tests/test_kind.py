"""The kind provider against a stand-in kind/docker on PATH and loopback API servers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from fedtest import clusters as clusterset
from providers import ledger as ledger_mod
from providers.base import Cluster, ConfigError, DeadlineExceeded, ProviderError
from providers.kind import KindProvider, images, ingress
from providers.kind.config import PortAllocator, cluster_config
from providers.readiness import api_client
from tests.standins.fake_kind import FakeKind
from tests.standins.kind_world import RUN_ID, cluster_names, kind_world, on_path, options

V0_33 = images.table()["v0.33.0"]["images"]


@pytest.fixture
def fake(tmp_path: Path):
    with on_path(FakeKind(tmp_path / "fake").install()) as installed:
        yield installed


def one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


# --- bad input: one line, before anything is created -----------------------------------------


def test_missing_kind_is_one_line(fake: FakeKind, tmp_path: Path) -> None:
    fake.install(kind=False)
    with pytest.raises(ConfigError) as err:
        KindProvider(options(tmp_path)).plan(1)
    assert "kind CLI is not on PATH" in one_line(err.value)
    assert "install kind" in str(err.value)


def test_missing_engine_is_one_line(fake: FakeKind, tmp_path: Path) -> None:
    fake.install(docker=False)
    with pytest.raises(ConfigError) as err:
        KindProvider(options(tmp_path)).plan(1)
    assert "no container engine (docker or podman) is on PATH" in one_line(err.value)
    assert fake.calls("create cluster") == []


def test_engine_not_answering_is_one_line(fake: FakeKind, tmp_path: Path) -> None:
    fake.configure(docker_down=True)
    with pytest.raises(ConfigError) as err:
        KindProvider(options(tmp_path)).plan(1)
    assert "container engine docker is not answering (Cannot connect to the Docker daemon" in one_line(err.value)


def test_unsupported_k8s_version_lists_the_supported_ones(fake: FakeKind, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        KindProvider(options(tmp_path, k8s_version="1.30")).plan(2)
    text = one_line(err.value)
    assert "Kubernetes 1.30 has no node image for kind v0.33.0" in text
    assert "1.37.0, 1.36.4, 1.35.8, 1.34.11" in text
    assert fake.calls("create cluster") == []


def test_kind_release_missing_from_the_table_fails_fast(fake: FakeKind, tmp_path: Path) -> None:
    fake.configure(version="v0.40.0")
    with pytest.raises(ConfigError) as err:
        KindProvider(options(tmp_path)).plan(1)
    assert "kind v0.40.0 is not in the node image table" in one_line(err.value)
    assert "install kind v0.33.0 or v0.32.0" in str(err.value)


def test_unknown_provider_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        KindProvider(options(tmp_path, extra={"regoin": "x"}))
    assert "kind does not know --provider-opt regoin" in one_line(err.value)


@pytest.mark.parametrize(("wanted", "chosen"), [
    (None, "1.37.0"), ("1.35", "1.35.8"), ("v1.34.11", "1.34.11"), ("1.36", "1.36.4"),
])
def test_node_image_per_version(wanted: str | None, chosen: str) -> None:
    picked = images.choose("v0.33.0", wanted)
    assert picked.k8s_version == chosen
    assert picked.image == V0_33[chosen]
    assert picked.image.startswith(f"kindest/node:v{chosen}@sha256:")


@pytest.mark.parametrize("wanted", ["1.35.2", "1.3", "1.33"])
def test_node_image_refuses_versions_without_an_image(wanted: str) -> None:
    with pytest.raises(ConfigError, match=f"Kubernetes {wanted} has no node image"):
        images.choose("v0.33.0", wanted)


def test_node_image_override_must_be_pinned() -> None:
    assert images.choose("v9.9.9", None, "my/node:v1@sha256:" + "0" * 64).image.startswith("my/node")
    with pytest.raises(ConfigError, match="not pinned by digest"):
        images.choose("v0.33.0", None, "kindest/node:v1.37.0")


def test_every_table_image_is_pinned_by_digest() -> None:
    for release in images.table().values():
        assert release["default"] in release["images"]
        for version, image in release["images"].items():
            assert image.startswith(f"kindest/node:v{version}@sha256:") and len(image.split(":")[-1]) == 64


# --- the cluster config and ports ---------------------------------------------------------------


def test_cluster_config_has_an_ingress_ready_node_with_host_ports() -> None:
    ports = PortAllocator().pair()
    config = cluster_config(ports, workers=2)
    control_plane, *workers = config["nodes"]
    assert control_plane["role"] == "control-plane" and control_plane["labels"] == {"ingress-ready": "true"}
    mappings = {m["containerPort"]: m["hostPort"] for m in control_plane["extraPortMappings"]}
    assert mappings == {80: ports.http, 443: ports.https}
    assert [w["role"] for w in workers] == ["worker", "worker"]


def test_port_allocator_never_hands_out_a_port_twice() -> None:
    allocator = PortAllocator()
    pairs = [allocator.pair() for _ in range(20)]
    ports = [p for pair in pairs for p in (pair.http, pair.https)]
    assert len(set(ports)) == len(ports)


# --- bring-up ------------------------------------------------------------------------------------


def test_parallel_up_gives_each_cluster_its_own_kubeconfig_and_ports(tmp_path: Path) -> None:
    names = cluster_names(3)
    with kind_world(tmp_path, names) as world:
        provider = world.provider(tmp_path, k8s_version="1.35")
        specs = provider.plan(3)
        ledger = ledger_mod.Ledger.create(tmp_path / "artifacts", RUN_ID, provider.name)
        results = clusterset.bring_up(provider, specs, ledger)
        assert [r.error for r in results] == ["", "", ""]
        clusters = [r.value for r in results]
        assert [c.name for c in clusters] == names
        kubeconfigs = {c.kubeconfig for c in clusters}
        assert len(kubeconfigs) == 3 and all(k.parent == tmp_path / "work" for k in kubeconfigs)
        for c in clusters:
            served = yaml.safe_load(c.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
            assert served == world.kube.clusters[c.name].url == c.endpoint
            assert c.context == f"kind-{c.name}" and c.version == "v1.31.2"
            assert c.metadata["kind_version"] == "v0.33.0" and c.metadata["engine"] == "docker"
            assert c.metadata["node_image"] == V0_33["1.35.8"]
        ports = [int(c.metadata[k]) for c in clusters for k in ("ingress_http_port", "ingress_https_port")]
        assert len(set(ports)) == 6
        creates = world.fake.calls("create cluster")
        assert len(creates) == 3
        for call in creates:
            flags = dict(zip(call[2::2], call[3::2], strict=True))
            assert flags["--image"] == V0_33["1.35.8"] and flags["--wait"] == "20s"
            assert Path(flags["--kubeconfig"]) in kubeconfigs
            config = yaml.safe_load(Path(flags["--config"]).read_text())
            assert config["nodes"][0]["labels"] == {"ingress-ready": "true"}
        assert ledger_mod.Ledger.load(tmp_path / "artifacts").entries[names[0]].state == ledger_mod.UP


def test_ingress_manifest_is_applied_and_awaited(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        provider = world.provider(tmp_path)
        cluster = provider.up(provider.plan(1)[0])
        standin = world.kube.clusters[name]
        deployments = standin.objects("deployments", ingress.NAMESPACE)
        assert [d["metadata"]["name"] for d in deployments] == [ingress.CONTROLLER]
        image = deployments[0]["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith("registry.k8s.io/ingress-nginx/controller:") and "@sha256:" in image
        assert "ingress-nginx" in standin.namespaces()
        assert [c["metadata"]["name"] for c in standin.objects("ingressclasses")] == ["nginx"]
        assert len(standin.objects("validatingwebhookconfigurations")) == 1
        assert f"{ingress.NAMESPACE}/{ingress.CONTROLLER}" in world.marked
        assert cluster.metadata["ingress_class"] == "nginx"


def test_ingress_wait_times_out_with_a_clear_line(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name], controller=False) as world:
        provider = world.provider(tmp_path, deadline=1.0)
        with pytest.raises(DeadlineExceeded) as err:
            provider.up(provider.plan(1)[0])
        text = one_line(err.value)
        assert "ingress controller Deployment ingress-nginx/ingress-nginx-controller not available within 1s" in text
        assert "(last: 0/1 replicas available)" in text
        assert world.kube.clusters[name].objects("deployments", ingress.NAMESPACE)


def test_ingress_install_returns_once_the_admission_webhook_answers(tmp_path: Path) -> None:
    """The controller Deployment is Available from the start (one replica, maxUnavailable 1) while the
    controller still waits for its certgen secret: up returns only when an Ingress can be created."""
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name], webhook_after=0.5) as world:
        provider = world.provider(tmp_path)
        cluster = provider.up(provider.plan(1)[0])
        api = api_client(cluster.kubeconfig, cluster.context)
        try:
            client.NetworkingV1Api(api).create_namespaced_ingress("default", {
                "metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx", "defaultBackend": {
                    "service": {"name": "web", "port": {"number": 80}}}}})
        finally:
            api.close()
        webhook = world.webhooks[name]
        assert webhook.refused >= 1 and webhook.dry_runs == 1
        assert world.kube.clusters[name].objects("ingresses", ingress.NAMESPACE) == []  # the probe stored nothing


def test_a_webhook_that_never_answers_is_a_deadline_with_its_last_error(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name], webhook_after=None) as world:
        provider = world.provider(tmp_path, deadline=3.0)
        with pytest.raises(DeadlineExceeded) as err:
            provider.up(provider.plan(1)[0])
        text = one_line(err.value)
        assert "admission webhook of ingress-nginx not answering within 3s" in text
        assert "connection refused" in text


def test_ingress_can_be_skipped(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name], controller=False) as world:
        provider = world.provider(tmp_path, extra={"ingress": "false"})
        cluster = provider.up(provider.plan(1)[0])
        assert world.kube.clusters[name].objects("deployments") == []
        assert cluster.metadata["ingress_class"] == ""


def test_failed_create_is_one_line_and_frees_nothing_it_did_not_make(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        world.fake.configure(fail_create="could not pull image")
        provider = world.provider(tmp_path)
        with pytest.raises(ProviderError) as err:
            provider.up(provider.plan(1)[0])
        assert one_line(err.value).startswith(
            f"kind create cluster {name} failed (ERROR: failed to create cluster: could not pull image)")
        assert world.fake.clusters() == []


# --- teardown, logs, leaks -------------------------------------------------------------------


def test_down_twice_is_fine_and_removes_the_kubeconfig(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        provider = world.provider(tmp_path)
        cluster = provider.up(provider.plan(1)[0])
        assert provider.is_up(cluster) and cluster.kubeconfig.exists()
        provider.down(cluster)
        provider.down(cluster)
        assert world.fake.clusters() == [] and not cluster.kubeconfig.exists()
        assert len(world.fake.calls("delete cluster")) == 1
        assert provider.is_up(cluster) is False


def test_failed_delete_is_a_provider_error_and_an_infra_case(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        provider = world.provider(tmp_path)
        ledger = ledger_mod.Ledger.create(tmp_path / "artifacts", RUN_ID, provider.name)
        [result] = clusterset.bring_up(provider, provider.plan(1), ledger)
        world.fake.configure(fail_delete=True)
        with pytest.raises(ProviderError) as err:
            provider.down(result.value)
        assert 'failed (ERROR: failed to delete cluster "' in one_line(err.value)
        [teardown] = clusterset.tear_down(provider, ledger, provider.options.work_dir)
        assert not teardown.ok and teardown.name == f"Teardown: kind down {name}"
        assert f"kind delete cluster {name} failed" in teardown.error
        assert world.fake.clusters() == [name]


def test_dump_logs_exports_into_dest(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        provider = world.provider(tmp_path)
        cluster = provider.up(provider.plan(1)[0])
        dest = tmp_path / "artifacts" / "logs" / name
        files = provider.dump_logs(cluster, dest)
        assert dest / "kind-version.txt" in files
        assert dest / f"{name}-control-plane" / "kubelet.log" in files
        assert world.fake.calls("export logs") == [["export", "logs", str(dest), "--name", name]]


def test_dump_logs_of_a_missing_cluster_writes_the_reason(tmp_path: Path) -> None:
    with kind_world(tmp_path, []) as world:
        provider = world.provider(tmp_path)
        gone = Cluster("fedtest-gone-1", "kind", tmp_path / "none.kubeconfig", "kind-fedtest-gone-1")
        [written] = provider.dump_logs(gone, tmp_path / "logs")
        assert 'unknown cluster "fedtest-gone-1"' in written.read_text()


def test_leaks_lists_only_this_runs_clusters(tmp_path: Path) -> None:
    mine = cluster_names(2)
    other = cluster_names(1, run_id="20261122-040000-ffffff")
    with kind_world(tmp_path, [*mine, *other]) as world:
        provider = world.provider(tmp_path)
        for spec in provider.plan(2):
            provider.up(spec)
        stranger = world.provider(tmp_path / "other", run_id="20261122-040000-ffffff")
        stranger.up(stranger.plan(1)[0])
        assert provider.leaks(RUN_ID) == [f"kind cluster {n}" for n in mine]
        for name in mine:
            provider.down(Cluster(name, "kind", provider.kubeconfig_path(name), f"kind-{name}"))
        assert provider.leaks(RUN_ID) == []
        assert stranger.leaks("20261122-040000-ffffff") == [f"kind cluster {other[0]}"]


# --- node images built locally, versions outside the table, offline ingress, workers -------------


def test_a_locally_built_node_image_is_used_with_a_one_line_warning(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        world.fake.configure(local_images={"kindest/node:latest": []})  # `kind build node-image`: no digest
        provider = world.provider(tmp_path, extra={"node_image": "kindest/node:latest"})
        with caplog.at_level("WARNING", logger="providers.kind"):
            cluster = provider.up(provider.plan(1)[0])
        [create] = world.fake.calls("create cluster")
        assert create[create.index("--image") + 1] == "kindest/node:latest"
        assert cluster.metadata["node_image_pinned"] == "false"
        [warning] = [r.getMessage() for r in caplog.records]
        assert "\n" not in warning and "kindest/node:latest is built locally, not pinned" in warning


def test_an_unpinned_registry_image_is_refused_with_its_digest() -> None:
    digest = "kindest/node@sha256:" + "a" * 64
    with pytest.raises(ConfigError) as err:
        images.choose("v0.33.0", None, "kindest/node:v1.37.0", inspect=lambda ref: [digest])
    assert one_line(err.value).endswith(f"pass it pinned, as {digest}")
    with pytest.raises(ConfigError, match=r"not in the local image store.*kind build node-image"):
        images.choose("v0.33.0", None, "my/node:dev", inspect=lambda ref: None)


@pytest.mark.parametrize(("wanted", "advice"), [
    ("1.36.1", "kind v0.32.0 has it: install that release or pass --provider-opt node_image=kindest/node:v1.36.1@"),
    ("1.30", "for 1.30, install the kind release whose notes list it (https://github.com/kubernetes-sigs/kind/"
             "releases) and pass its image as --provider-opt node_image=..., or build one "
             "(`kind build node-image v1.30.0`)"),
])
def test_a_version_outside_the_table_says_where_to_get_it(wanted: str, advice: str) -> None:
    with pytest.raises(ConfigError) as err:
        images.choose("v0.33.0", wanted)
    assert advice in one_line(err.value)


def test_ingress_images_go_through_the_image_registry(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        provider = KindProvider(dataclasses.replace(options(tmp_path), image_registry="mirror.local:5000/k8s"))
        provider.up(provider.plan(1)[0])
        standin = world.kube.clusters[name]
        pulled = [c["image"] for kind in ("deployments", "jobs") for obj in standin.objects(kind, ingress.NAMESPACE)
                  for c in obj["spec"]["template"]["spec"]["containers"]]
    assert len(pulled) == 3 and all(i.startswith("mirror.local:5000/k8s/ingress-nginx/") for i in pulled)
    assert all("@sha256:" in i for i in pulled)
    assert sorted(set(pulled)) == ingress.images("mirror.local:5000/k8s")


def test_workers_setting_adds_worker_nodes(tmp_path: Path) -> None:
    name = cluster_names(1)[0]
    with kind_world(tmp_path, [name]) as world:
        provider = world.provider(tmp_path, extra={"workers": "2", "ingress": "false"})
        [spec] = provider.plan(1)
        cluster = provider.up(spec)
        [create] = world.fake.calls("create cluster")
        config = yaml.safe_load(Path(create[create.index("--config") + 1]).read_text())
        assert [s.workers for s in KindProvider(options(tmp_path)).plan(2)] == [0, 0]  # default: one node
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert spec.workers == 2 and cluster.metadata["workers"] == "2"


@pytest.mark.parametrize(("extra", "message"), [
    ({"workers": "-1"}, "--provider-opt workers=-1 is not a number from 0 to 50"),
    ({"engine": "lxc"}, "--provider-opt engine=lxc is not docker or podman"),
    ({"ingress": "maybe"}, "--provider-opt ingress=maybe is not true or false"),
])
def test_bad_kind_settings_are_one_line(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        KindProvider(options(tmp_path, extra=extra))
    assert one_line(err.value).startswith(message)


# --- fedtest list: whether kind can run on this machine ------------------------------------------


def _listed_kind(capsys: pytest.CaptureFixture[str]) -> str:
    from fedtest import cli

    assert cli.main(["list"]) == 0
    return next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("kind "))


def test_list_says_kind_cannot_run_without_kind_on_path(fake: FakeKind, capsys: pytest.CaptureFixture[str]) -> None:
    fake.install(kind=False)
    line = _listed_kind(capsys)
    assert "cannot run here: the kind CLI is not on PATH" in line and " ok" not in line


def test_list_says_kind_cannot_run_when_the_engine_does_not_answer(fake: FakeKind,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    fake.configure(docker_down=True)
    assert "cannot run here: container engine docker is not answering" in _listed_kind(capsys)


def test_list_says_kind_is_ok_with_the_versions_it_found(fake: FakeKind, capsys: pytest.CaptureFixture[str]) -> None:
    assert _listed_kind(capsys).split() == ["kind", "ok", "(kind", "v0.33.0,", "docker", "27.3.1)"]
