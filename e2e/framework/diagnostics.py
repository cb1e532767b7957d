"""Evidence from a namespace, written while the failure is still there: events, pods, logs, objects, nodes.

Secret objects are never dumped, and every object loses its metadata.managedFields (most of a dump's
bytes, none of its meaning). Each collector is independent: one failing call (an RBAC gap, a pod
already gone) is noted as an error and the rest are still written. Everything a test's dump writes
goes through one Budget, so a test's evidence has a size cap and says where it was cut.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client

DEFAULT_CAP_MIB = 20.0  # per failed test (--diagnostics-cap)
_LOG_BYTES = 10 * 1024 * 1024  # per container log, before the test's cap applies
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def test_dir(artifacts: Path, test_id: str) -> Path:
    """artifacts/<test id>/, with the test id made safe as a folder name."""
    safe = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", test_id.replace("::", "__")).strip("_")
    return artifacts / safe[:200]


@dataclass
class Written:
    """One file of a dump (or one the cap kept out): what the index lists."""

    path: Path
    size: int
    note: str = ""
    cut: bool = False


@dataclass
class Budget:
    """The bytes a test's evidence may take; shared by the clusters' dumps, which run in parallel."""

    cap: int
    used: int = 0
    files: list[Written] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def left(self) -> int:
        with self._lock:
            return max(self.cap - self.used, 0)

    @property
    def cut(self) -> list[Written]:
        return [w for w in self.files if w.cut]

    def write(self, path: Path, text: str, note: str = "", cut: str = "") -> Written:
        """Write `text` to `path`, or as much of it as the cap leaves, saying so at the cut."""
        data = text.encode("utf-8", "replace")
        with self._lock:
            room = max(self.cap - self.used, 0)
            if len(data) > room:
                cut = f"cut at {room} of {len(data)} bytes: the per-test cap of {human_size(self.cap)} was reached"
                data = data[:room]
            self.used += len(data)
        if cut:
            data += f"\n--- {cut} ---\n".encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written = Written(path, len(data), f"{note}; {cut}" if note and cut else note or cut, bool(cut))
        with self._lock:
            self.files.append(written)
        return written


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


def without_managed_fields(value: Any) -> Any:
    """The serialized object with every metadata.managedFields removed, at any depth (lists of items)."""
    if isinstance(value, dict):
        return {k: without_managed_fields(v) for k, v in value.items() if k != "managedFields"}
    if isinstance(value, list):
        return [without_managed_fields(v) for v in value]
    return value


def _kinds(api: client.ApiClient, namespace: str) -> dict[str, Callable[[], Any]]:
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    net, discovery = client.NetworkingV1Api(api), client.DiscoveryV1Api(api)
    kw = {"_request_timeout": 30}
    return {
        "events": lambda: core.list_namespaced_event(namespace, **kw),
        "pods": lambda: core.list_namespaced_pod(namespace, **kw),
        "services": lambda: core.list_namespaced_service(namespace, **kw),
        "endpointslices": lambda: discovery.list_namespaced_endpoint_slice(namespace, **kw),
        "endpoints": lambda: core.list_namespaced_endpoints(namespace, **kw),
        "deployments": lambda: apps.list_namespaced_deployment(namespace, **kw),
        "replicasets": lambda: apps.list_namespaced_replica_set(namespace, **kw),
        "jobs": lambda: batch.list_namespaced_job(namespace, **kw),
        "cronjobs": lambda: batch.list_namespaced_cron_job(namespace, **kw),
        "ingresses": lambda: net.list_namespaced_ingress(namespace, **kw),
        "networkpolicies": lambda: net.list_namespaced_network_policy(namespace, **kw),
        "configmaps": lambda: core.list_namespaced_config_map(namespace, **kw),
        "persistentvolumeclaims": lambda: core.list_namespaced_persistent_volume_claim(namespace, **kw),
    }


def _when(event: Any) -> dt.datetime:
    """An event's time: eventTime (events.k8s.io), else lastTimestamp, firstTimestamp, creation."""
    for stamp in (event.event_time, event.last_timestamp, event.first_timestamp, event.metadata.creation_timestamp):
        if isinstance(stamp, dt.datetime):
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    return _EPOCH


def _event_lines(events: list[Any]) -> str:
    lines = []
    for e in events:
        stamp = _when(e)
        when = stamp.strftime("%H:%M:%S") if stamp != _EPOCH else "--:--:--"
        obj = e.involved_object
        what = f"{(obj.kind or '').lower()}/{obj.name}" if obj else "-"
        lines.append(f"{when}  {e.type or '-':7}  {e.reason or '-':24}  {what}  x{e.count or 1}: "
                     f"{(e.message or '').strip()}")
    return "\n".join(lines) + "\n"


def _error(err: BaseException) -> str:
    first = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {first}"[:300]


@dataclass
class NamespaceDump:
    """What one namespace's dump found: the pods' one-line states and the calls that failed."""

    cluster: str
    namespace: str
    pods: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def dump_namespace(api: client.ApiClient, cluster: str, namespace: str, dest: Path, budget: Budget) -> NamespaceDump:
    """<kind>.yaml for each kind (events oldest first, also as events.txt), nodes.yaml with the nodes'
    conditions, and <pod>.<container>[.previous].log for every container."""
    found = NamespaceDump(cluster, namespace)
    pods: list[Any] = []
    for kind, fetch in _kinds(api, namespace).items():
        try:
            listing = fetch()
        except urllib3.exceptions.HTTPError as err:  # no answer at all: every other call would wait as long
            found.errors.append(f"{kind}: {_error(err)}; the API server did not answer, the rest of "
                                f"{cluster}'s dump is skipped")
            return found
        except Exception as err:
            found.errors.append(f"{kind}: {_error(err)}")
            continue
        if kind == "events":
            listing.items = sorted(listing.items, key=_when)
            budget.write(dest / "events.txt", _event_lines(listing.items), f"{len(listing.items)} events, oldest first")
        if kind == "pods":
            pods = listing.items
        budget.write(dest / f"{kind}.yaml", _yaml(api, listing.items), f"{len(listing.items)} {kind}")
    found.pods = [pod_state(p) for p in pods]
    _dump_nodes(api, dest, budget, found.errors)
    _dump_logs(api, namespace, pods, dest, budget, found.errors)  # last: the bulk, what the cap cuts first
    return found


def _yaml(api: client.ApiClient, items: list[Any]) -> str:
    return yaml.safe_dump(without_managed_fields(api.sanitize_for_serialization(items)), sort_keys=False)


def _dump_logs(api: client.ApiClient, namespace: str, pods: list[Any], dest: Path, budget: Budget,
               errors: list[str]) -> None:
    core = client.CoreV1Api(api)
    for pod in pods:
        for container in [c.name for c in (pod.spec.init_containers or []) + (pod.spec.containers or [])]:
            for previous in (False, True):
                room = budget.left()
                name = f"{pod.metadata.name}.{container}{'.previous' if previous else ''}.log"
                if room <= 0:
                    budget.write(dest / name, "", cut=f"not fetched: the cap of {human_size(budget.cap)} was reached")
                    continue
                limit = min(_LOG_BYTES, room + 1)  # one byte over the room tells the budget to cut
                try:
                    text = core.read_namespaced_pod_log(pod.metadata.name, namespace, container=container,
                                                        previous=previous, limit_bytes=limit, _request_timeout=30)
                except Exception as err:  # no previous container is the usual case, not an error
                    if not previous:
                        errors.append(f"log {pod.metadata.name}/{container}: {_error(err)}")
                    continue
                text = text if isinstance(text, str) else str(text)
                at_limit = limit == _LOG_BYTES and len(text.encode()) >= _LOG_BYTES
                budget.write(dest / name, text, "previous container" if previous else "",
                             cut=f"the first {human_size(_LOG_BYTES)} of the log only" if at_limit else "")


def _dump_nodes(api: client.ApiClient, dest: Path, budget: Budget, errors: list[str]) -> None:
    try:
        nodes = client.CoreV1Api(api).list_node(_request_timeout=30).items
    except Exception as err:
        errors.append(f"nodes: {_error(err)}")
        return
    rows = []
    for node in nodes:
        status, spec = node.status, node.spec
        rows.append({
            "name": node.metadata.name,
            "unschedulable": bool(spec and spec.unschedulable),
            "taints": api.sanitize_for_serialization((spec.taints if spec else None) or []),
            "conditions": api.sanitize_for_serialization((status.conditions if status else None) or []),
        })
    budget.write(dest / "nodes.yaml", yaml.safe_dump(rows, sort_keys=False), f"{len(rows)} nodes' conditions")


def pod_state(pod: Any) -> str:
    """One line per pod: phase, conditions that are not True, and each container's state and restarts."""
    status = pod.status
    parts = [pod.metadata.name, (status.phase if status else None) or "Unknown"]
    for cond in (status.conditions if status else None) or []:
        if cond.status != "True":
            parts.append(f"{cond.type}={cond.status}" + (f" ({cond.reason})" if cond.reason else ""))
    for cs in (status.init_container_statuses or []) + (status.container_statuses or []) if status else []:
        parts.append(f"{cs.name}: {_container_state(cs.state)}, {cs.restart_count or 0} restarts"
                     + (f", last {_container_state(cs.last_state)}" if _container_state(cs.last_state) else ""))
    return "  ".join(parts)


def _container_state(state: Any) -> str:
    if state is None:
        return ""
    if state.waiting:
        return f"waiting ({state.waiting.reason or '-'})"
    if state.terminated:
        t = state.terminated
        return f"terminated ({t.reason or '-'}, exit {t.exit_code})"
    return "running" if state.running else ""
