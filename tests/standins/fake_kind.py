"""A stand-in `kind` (and `docker`) executable for tests, and the helper that puts it on PATH.

Run as a script it behaves like the kind CLI for the verbs the provider uses: `version`,
`create cluster` (validates the flags and the v1alpha4 config, refuses duplicate names and host
ports already taken by another cluster, writes a kubeconfig whose `kind-NAME` context points at the
loopback API server the test assigned to NAME), `delete cluster` (absent = success, like kind),
`get clusters`, `get nodes` and `export logs`. Every call is appended to calls.jsonl. settings.json, read on
every call, can make create slow or fail and delete fail, so tests flip behaviour mid-run.

The stand-in `docker` keeps each cluster's node containers (kind's names: NAME-control-plane,
NAME-worker, NAME-worker2 ...): pause/unpause, `ps --filter status=paused`, network
disconnect/connect, and `exec` into the control plane for what the kind provider's disruption runs
there -- crictl ps/inspect of the static-pod components (running while their manifest is in
/etc/kubernetes/manifests), mkdir, mv of manifests, and kill -STOP/-CONT of the API server's pid.
`api_state(name)` says what a client of the API server would see (tests/standins/gate.py states).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

VERSION = "v0.33.0"
MANIFESTS = "/etc/kubernetes/manifests"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
DOCKER_DOWN = ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
               "Is the docker daemon running?")


class FakeKind:
    """A bin dir with `kind` and `docker` wrappers and the state dir they share."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.state = root / "state"
        (self.state / "clusters").mkdir(parents=True, exist_ok=True)
        self.bin.mkdir(parents=True, exist_ok=True)
        self.configure(version=VERSION)

    def install(self, kind: bool = True, docker: bool = True) -> FakeKind:
        script = Path(__file__).resolve()
        for name, wanted in (("kind", kind), ("docker", docker)):
            path = self.bin / name
            if not wanted:
                path.unlink(missing_ok=True)
                continue
            path.write_text(
                "#!/bin/sh\n"
                f"FAKE_KIND_STATE={shlex.quote(str(self.state))} "
                f"exec {shlex.quote(sys.executable)} {shlex.quote(str(script))} {name} \"$@\"\n",
                encoding="utf-8",
            )
            path.chmod(0o755)
        return self

    def configure(self, **settings: Any) -> None:
        """create_delay (s), fail_create (message), fail_delete (bool), version, docker_down (bool),
        local_images ({image: [registry digests]}: what `docker image inspect` finds; [] = built locally)."""
        path = self.state / "settings.json"
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(settings)
        path.write_text(json.dumps(current), encoding="utf-8")

    def serve(self, servers: dict[str, str]) -> None:
        """Which loopback API server (URL) each cluster name's kubeconfig points at ("*": any other name)."""
        (self.state / "servers.json").write_text(json.dumps(servers), encoding="utf-8")

    def calls(self, verb: str | None = None) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        calls = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [c for c in calls if verb is None or c[:2] == verb.split()]

    def clusters(self) -> list[str]:
        return sorted(p.stem for p in (self.state / "clusters").glob("*.json"))

    def nodes(self, name: str) -> dict[str, Any]:
        path = self.state / "nodes" / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def api_state(self, name: str) -> str:
        """frozen (control plane paused, API server stopped), refused (its manifest away), or open."""
        nodes = self.nodes(name)
        plane = nodes.get(f"{name}-control-plane")
        if plane is None:
            return "refused"
        if plane["paused"] or plane["apiserver_signal"] == "STOP":
            return "frozen"
        return "open" if f"{MANIFESTS}/kube-apiserver.yaml" in plane["files"] else "refused"

    def data_plane_up(self, name: str) -> bool:
        workers = [n for n in self.nodes(name).values() if n["role"] == "worker"]
        return all(not n["paused"] and n["networks"] for n in workers)


# --- the executable -------------------------------------------------------------------------


def _state() -> Path:
    return Path(os.environ["FAKE_KIND_STATE"])


def _settings() -> dict[str, Any]:
    return json.loads((_state() / "settings.json").read_text())


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    with open(_state() / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _fail(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return 1


def _flags(args: list[str]) -> dict[str, str]:
    flags = {}
    it = iter(args)
    for arg in it:
        if not arg.startswith("--"):
            continue
        key, sep, value = arg[2:].partition("=")
        flags[key] = value if sep else next(it, "")
    return flags


def _host_ports(config: dict[str, Any]) -> set[int]:
    return {m["hostPort"] for node in config["nodes"] for m in node.get("extraPortMappings", [])}


def _check_config(config: Any) -> str:
    if not isinstance(config, dict) or config.get("kind") != "Cluster":
        return "config is not a kind Cluster"
    if config.get("apiVersion") != "kind.x-k8s.io/v1alpha4":
        return f"unknown apiVersion {config.get('apiVersion')!r}"
    roles = [n.get("role") for n in config.get("nodes", [])]
    if "control-plane" not in roles or set(roles) - {"control-plane", "worker"}:
        return f"invalid node roles {roles}"
    return ""


def _create(args: list[str]) -> int:
    flags = _flags(args)
    name = flags.get("name", "kind")
    for required in ("kubeconfig", "config", "image", "wait"):
        if not flags.get(required):
            return _fail(f"the provider must pass --{required}")
    config = yaml.safe_load(Path(flags["config"]).read_text())
    problem = _check_config(config)
    if problem:
        return _fail(f"failed to create cluster: {problem}")
    settings = _settings()
    record = _state() / "clusters" / f"{name}.json"
    with _locked():
        if record.exists():
            return _fail("failed to create cluster: node(s) already exist "
                         f'for a cluster with the name "{name}"')
        taken = set()
        for other in (_state() / "clusters").glob("*.json"):
            taken |= _host_ports(json.loads(other.read_text())["config"])
        clash = _host_ports(config) & taken
        if clash:
            return _fail(f"failed to create cluster: port {min(clash)} is already allocated")
        record.write_text(json.dumps({"config": config, "image": flags["image"]}))
        _write_nodes(name, _new_nodes(name, config))
    print(f'Creating cluster "{name}" ...', file=sys.stderr)
    time.sleep(float(settings.get("create_delay", 0)))
    if settings.get("fail_create"):
        record.unlink()
        return _fail(f"failed to create cluster: {settings['fail_create']}")
    servers = json.loads((_state() / "servers.json").read_text())
    server = servers.get(name) or servers.get("*")  # "*": any name, for runs whose names are not known ahead
    if server is None:
        record.unlink()
        return _fail(f"failed to create cluster: the test assigned no API server to {name}")
    context = f"kind-{name}"
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": {"token": f"token-{name}"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }
    path = Path(flags["kubeconfig"])
    path.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    path.chmod(0o600)
    print(f"Set kubectl context to \"{context}\"", file=sys.stderr)
    return 0


def _delete(args: list[str]) -> int:
    name = _flags(args).get("name", "kind")
    print(f'Deleting cluster "{name}" ...', file=sys.stderr)
    if _settings().get("fail_delete"):
        return _fail(f'failed to delete cluster "{name}": failed to delete nodes: command '
                     f'"docker rm -f -v {name}-control-plane" failed with error: exit status 1')
    (_state() / "clusters" / f"{name}.json").unlink(missing_ok=True)
    (_state() / "nodes" / f"{name}.json").unlink(missing_ok=True)
    return 0


def _get_clusters() -> int:
    names = sorted(p.stem for p in (_state() / "clusters").glob("*.json"))
    if not names:
        print("No kind clusters found.", file=sys.stderr)
    for name in names:
        print(name)
    return 0


def _export_logs(args: list[str]) -> int:
    name = _flags(args).get("name", "kind")
    positional = [a for i, a in enumerate(args)
                  if not a.startswith("--") and (i == 0 or not args[i - 1].startswith("--"))]
    if not (_state() / "clusters" / f"{name}.json").exists():
        return _fail(f'unknown cluster "{name}"')
    dest = Path(positional[0])
    node = dest / f"{name}-control-plane"
    node.mkdir(parents=True, exist_ok=True)
    (node / "kubelet.log").write_text("kubelet started\n")
    (node / "containerd.log").write_text("containerd started\n")
    (dest / "kind-version.txt").write_text(f"kind {_settings()['version']}\n")
    print(f'Exporting logs for cluster "{name}" to:\n{dest}')
    return 0


def _kind(args: list[str]) -> int:
    if args == ["version"]:
        print(f"kind {_settings()['version']} go1.25.1 linux/amd64")
        return 0
    verb = args[:2]
    if verb == ["create", "cluster"]:
        return _create(args[2:])
    if verb == ["delete", "cluster"]:
        return _delete(args[2:])
    if verb == ["get", "clusters"]:
        return _get_clusters()
    if verb == ["export", "logs"]:
        return _export_logs(args[2:])
    if verb == ["get", "nodes"]:
        name = _flags(args[2:]).get("name", "kind")
        nodes = _read_nodes(name)
        if not nodes:
            print(f'No kind nodes found for cluster "{name}".', file=sys.stderr)
        for node in sorted(nodes):
            print(node)
        return 0
    return _fail(f"unknown command {' '.join(args)!r} for the stand-in kind")


def _docker(args: list[str]) -> int:
    if _settings().get("docker_down"):
        print(DOCKER_DOWN, file=sys.stderr)
        return 1
    if args[:1] == ["info"]:
        print("27.3.1")
        return 0
    if args[:2] == ["image", "inspect"]:
        local = _settings().get("local_images", {})
        if args[-1] not in local:
            print(f"Error response from daemon: No such image: {args[-1]}", file=sys.stderr)
            return 1
        print(json.dumps(local[args[-1]]))
        return 0
    with _locked():
        return _containers(args)


# --- node containers ------------------------------------------------------------------------


def _new_nodes(name: str, config: dict[str, Any]) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    workers = 0
    for node in config["nodes"]:
        if node["role"] == "control-plane":
            nodes[f"{name}-control-plane"] = {
                "role": "control-plane", "paused": False, "networks": ["kind"], "apiserver_signal": "CONT",
                "files": [f"{MANIFESTS}/{c}.yaml" for c in COMPONENTS], "generation": 1}
        else:
            workers += 1
            nodes[f"{name}-worker{workers if workers > 1 else ''}"] = {
                "role": "worker", "paused": False, "networks": ["kind"]}
    return nodes


def _nodes_path(name: str) -> Path:
    return _state() / "nodes" / f"{name}.json"


def _read_nodes(name: str) -> dict[str, Any]:
    path = _nodes_path(name)
    return json.loads(path.read_text()) if path.exists() else {}


def _write_nodes(name: str, nodes: dict[str, Any]) -> None:
    path = _nodes_path(name)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(nodes))
    tmp.replace(path)


def _cluster_of(container: str) -> str:
    return container.rsplit("-control-plane", 1)[0] if container.endswith("-control-plane") \
        else container.rsplit("-worker", 1)[0]


def _no_such(container: str) -> int:
    print(f"Error response from daemon: No such container: {container}", file=sys.stderr)
    return 1


def _containers(args: list[str]) -> int:
    verb = args[0] if args else ""
    if verb in ("pause", "unpause"):
        for container in args[1:]:
            nodes = _read_nodes(_cluster_of(container))
            if container not in nodes:
                return _no_such(container)
            if nodes[container]["paused"] == (verb == "pause"):
                state = "paused" if verb == "pause" else "not paused"
                print(f"Error response from daemon: container {container} is {state}", file=sys.stderr)
                return 1
            nodes[container]["paused"] = verb == "pause"
            _write_nodes(_cluster_of(container), nodes)
            print(container)
        return 0
    if args[:1] == ["ps"] and "status=paused" in args:
        for path in sorted((_state() / "nodes").glob("*.json")):
            for container, node in sorted(json.loads(path.read_text()).items()):
                if node["paused"]:
                    print(container)
        return 0
    if args[:2] in (["network", "disconnect"], ["network", "connect"]):
        network, container = args[2], args[3]
        nodes = _read_nodes(_cluster_of(container))
        if container not in nodes:
            return _no_such(container)
        joined = network in nodes[container]["networks"]
        if args[1] == "connect" and joined:
            print(f"Error response from daemon: endpoint with name {container} already exists in network "
                  f"{network}", file=sys.stderr)
            return 1
        if args[1] == "disconnect" and not joined:
            print(f"Error response from daemon: container {container} is not connected to network {network}",
                  file=sys.stderr)
            return 1
        nodes[container]["networks"] = [n for n in nodes[container]["networks"] if n != network] + \
            ([network] if args[1] == "connect" else [])
        _write_nodes(_cluster_of(container), nodes)
        return 0
    if verb == "exec":
        return _exec(args[1], args[2:])
    print(f"docker: '{' '.join(args)}' is not a docker command of the stand-in", file=sys.stderr)
    return 1


def _exec(container: str, argv: list[str]) -> int:
    cluster = _cluster_of(container)
    nodes = _read_nodes(cluster)
    if container not in nodes:
        return _no_such(container)
    node = nodes[container]
    if node["paused"]:
        print(f"Error response from daemon: Container {container} is paused, unpause the container before exec",
              file=sys.stderr)
        return 1
    if node["role"] != "control-plane":
        return _fail(f"the stand-in runs nothing in worker {container}: {argv}")
    running = [c for c in COMPONENTS if f"{MANIFESTS}/{c}.yaml" in node["files"]]
    if argv[:3] == ["crictl", "ps", "-q"] and argv[3:4] == ["--name"]:
        for component in running:
            if argv[4] in component:  # crictl's --name is a regular expression match
                print(f"{component}-{node['generation']}")
        return 0
    if argv[:2] == ["crictl", "inspect"]:
        component = argv[-1].rsplit("-", 1)[0]
        if component not in running or argv[-1] != f"{component}-{node['generation']}":
            return _fail(f'getting the status of the container "{argv[-1]}": not found')
        print(1000 + COMPONENTS.index(component))
        return 0
    if argv[:2] == ["sh", "-c"] and argv[2].startswith("kill -") and len(argv) == 5:
        signal, pid = argv[2].split()[1].lstrip("-"), argv[4]
        if pid != str(1000 + COMPONENTS.index("kube-apiserver")) or "kube-apiserver" not in running:
            return _fail(f"kill: ({pid}) - No such process")
        node["apiserver_signal"] = signal
    elif argv[:2] == ["mkdir", "-p"]:
        pass
    elif argv[:1] == ["mv"] and len(argv) == 3:
        if argv[1] not in node["files"]:
            return _fail(f"mv: cannot stat '{argv[1]}': No such file or directory")
        node["files"] = [f for f in node["files"] if f != argv[1]] + [argv[2]]
        if argv[2].startswith(MANIFESTS):
            node["generation"] += 1
            if argv[2].endswith("kube-apiserver.yaml"):
                node["apiserver_signal"] = "CONT"  # a new process
    elif argv[:3] == ["sh", "-c", 'test ! -f "$1" || mv "$1" "$2"'] and len(argv) == 6:
        if argv[4] in node["files"]:
            node["files"] = [f for f in node["files"] if f != argv[4]] + [argv[5]]
            node["generation"] += 1
            if argv[5].endswith("kube-apiserver.yaml"):
                node["apiserver_signal"] = "CONT"
    else:
        return _fail(f"the stand-in node cannot run {argv}")
    _write_nodes(cluster, nodes)
    return 0


def main(argv: list[str]) -> int:
    program, args = argv[0], argv[1:]
    with open(_state() / "calls.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(args if program == "kind" else [program, *args]) + "\n")
    return _kind(args) if program == "kind" else _docker(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
