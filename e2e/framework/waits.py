"""Waits built on watches: list once, watch from the list's resourceVersion, relist on 410 Gone.

Every wait has a deadline. The server is asked to end the watch with timeoutSeconds, and the client
read timeout (`_request_timeout`) ends it anyway when a server ignores that. A wait costs one list and
one watch request when nothing goes wrong; a timeout costs one more (the object's recent events) and
raises WaitTimeout naming what was awaited, the last state seen and those events.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from e2e.framework import podstates

R = TypeVar("R")
HTTP_GONE = 410
EVENTS_SHOWN = 10
STATE_CHARS = 1500
RECHECK_SECONDS = 5.0  # how late a time-based verdict (a grace running out) may come


@dataclass
class Deadline:
    """A point in monotonic time that several waits can share."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.started + self.seconds - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


class WaitTimeout(AssertionError):
    """The awaited state did not come in time; the message says what, what was seen, and the events."""

    def __init__(self, what: str, seconds: float, last_state: str, events: list[str]) -> None:
        self.what = what
        self.last_state = last_state
        self.events = events
        shown = "\n  ".join(events) if events else "(none)"
        super().__init__(
            f"timed out after {seconds:.0f}s waiting for {what}\n"
            f"last state seen: {last_state}\nrecent events:\n  {shown}"
        )


class WaitFailed(AssertionError):
    """The awaited state can no longer happen (e.g. a pod failed while we waited for Running)."""


@dataclass
class Target:
    """What a wait watches: a list function of the typed API, its namespace and selectors."""

    list_fn: Callable[..., Any]
    namespace: str | None
    kind: str
    name: str | None = None
    label_selector: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    about: str | None = None  # the object whose events explain a timeout (default: name)

    def call_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.name:
            kwargs["field_selector"] = f"metadata.name={self.name}"
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        return kwargs

    def matches(self, obj: Any) -> bool:
        """Selectors are applied by the server; checking again here costs nothing and is exact."""
        meta = obj.metadata
        if self.name and meta.name != self.name:
            return False
        labels = meta.labels or {}
        return all(labels.get(k) == v for k, v in self.labels.items())

    def args(self) -> list[Any]:
        return [self.namespace] if self.namespace is not None else []


def watch_until(target: Target, predicate: Callable[[dict[str, Any]], R | None], *, what: str,
                timeout: float | Deadline, describe: Callable[[dict[str, Any]], str] | None = None,
                events_api: client.CoreV1Api | None = None, recheck: float | None = None) -> R:
    """Return predicate(objects) as soon as it is not None; objects maps name -> live object.

    The predicate may raise WaitFailed to stop early. It sees the full set after the list and after
    every watch event, so it can also keep its own history (e.g. every job a CronJob created).
    `recheck` (seconds) also runs it after that long without an event, for verdicts that come with
    time alone (a grace running out) rather than with a change of the object.
    """
    deadline = timeout if isinstance(timeout, Deadline) else Deadline(timeout)
    describe = describe or describe_objects
    objects: dict[str, Any] = {}
    resource_version: str | None = None
    listed = False
    while True:
        if deadline.expired():
            raise _timeout(target, what, deadline, describe(objects), events_api)
        if not listed:
            listing = target.list_fn(*target.args(), **target.call_kwargs(),
                                     _request_timeout=_timeouts(deadline))
            objects = {o.metadata.name: o for o in listing.items if target.matches(o)}
            resource_version = listing.metadata.resource_version
            listed = True
            result = predicate(objects)
            if result is not None:
                return result
        stream = watch.Watch()
        try:
            for event in stream.stream(
                target.list_fn, *target.args(), **target.call_kwargs(),
                resource_version=resource_version, allow_watch_bookmarks=True,
                timeout_seconds=max(1, int(min(deadline.remaining(), recheck or deadline.remaining()))),
                _request_timeout=_timeouts(deadline, recheck),
            ):
                obj = event["object"]
                if event["type"] == "BOOKMARK" or not target.matches(obj):
                    continue
                if event["type"] == "DELETED":
                    objects.pop(obj.metadata.name, None)
                else:
                    objects[obj.metadata.name] = obj
                result = predicate(objects)
                if result is not None:
                    stream.stop()
                    return result
                if deadline.expired():
                    stream.stop()
                    break
            resource_version = stream.resource_version or resource_version
        except ApiException as err:
            if err.status != HTTP_GONE:
                raise
            listed = False  # the resourceVersion expired: relist and watch from the new one
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            resource_version = stream.resource_version or resource_version
        except urllib3.exceptions.MaxRetryError as err:  # the same read timeout, after the client's retries
            if not isinstance(err.reason, urllib3.exceptions.ReadTimeoutError):
                raise
            resource_version = stream.resource_version or resource_version
        if recheck is not None and listed:
            result = predicate(objects)
            if result is not None:
                return result


def _timeouts(deadline: Deadline, recheck: float | None = None) -> tuple[float, float]:
    remaining = max(deadline.remaining(), 0.5)
    return (min(remaining, 15.0), min(remaining, recheck) if recheck else remaining)


def _timeout(target: Target, what: str, deadline: Deadline, state: str,
             events_api: client.CoreV1Api | None) -> WaitTimeout:
    events: list[str] = []
    if events_api is not None and target.namespace:
        events = recent_events(events_api, target.namespace, target.about or target.name, target.kind)
    return WaitTimeout(what, deadline.seconds, state[:STATE_CHARS], events)


def recent_events(api: client.CoreV1Api, namespace: str, name: str | None, kind: str | None) -> list[str]:
    """The last few events about an object (or the namespace), oldest first, one line each."""
    selector = ",".join(
        s for s in (f"involvedObject.name={name}" if name else "",
                    f"involvedObject.kind={kind}" if kind and name else "") if s
    )
    try:
        items = api.list_namespaced_event(namespace, field_selector=selector or None,
                                          _request_timeout=(5, 10)).items
    except (ApiException, urllib3.exceptions.HTTPError) as err:
        return [f"(events unavailable: {err})"]
    if name:
        items = [e for e in items if e.involved_object.name == name
                 and (not kind or e.involved_object.kind == kind)]
    items.sort(key=_event_time)
    return [_event_line(e) for e in items[-EVENTS_SHOWN:]]


def _event_time(event: Any) -> float:
    stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
    return stamp.timestamp() if stamp else 0.0


def _event_line(event: Any) -> str:
    count = f" (x{event.count})" if event.count and event.count > 1 else ""
    return f"{event.type or ''} {event.involved_object.kind}/{event.involved_object.name} " \
           f"{event.reason}: {event.message}{count}".strip()


def describe_objects(objects: dict[str, Any]) -> str:
    if not objects:
        return "no matching object"
    return "; ".join(f"{name}: {summarize(obj)}" for name, obj in sorted(objects.items()))


_SERIALIZER = client.ApiClient()


def summarize(obj: Any) -> str:
    """The status of an object as one short line: what someone debugging a timeout wants first."""
    status = getattr(obj, "status", None)
    if status is None:
        return "no status"
    return str(_SERIALIZER.sanitize_for_serialization(status))


# --- the waits the suite uses -------------------------------------------------------------------


def pod_phase(api: client.ApiClient, namespace: str, name: str, phases: Collection[str],
              timeout: float | Deadline,
              unschedulable_grace: float = podstates.UNSCHEDULABLE_GRACE_SECONDS) -> client.V1Pod:
    """Wait until the pod is in one of `phases`; fail fast when it ends in another one, vanishes, or
    is stuck in a state it cannot leave (a bad image, a missing config key, no node fits)."""
    core = client.CoreV1Api(api)
    wanted = set(phases)
    seen: dict[str, bool] = {}
    states = podstates.PodWatch(unschedulable_grace)

    def reached(objects: dict[str, Any]) -> client.V1Pod | None:
        pod = objects.get(name)
        if pod is None:
            if seen.get("present"):
                raise WaitFailed(f"pod {namespace}/{name} was deleted while waiting for {sorted(wanted)}")
            return None
        seen["present"] = True
        phase = pod.status.phase if pod.status else None
        if phase in wanted:
            return pod
        if phase in ("Succeeded", "Failed"):
            raise WaitFailed(f"pod {namespace}/{name} ended {phase} ({pod_reason(pod)}) "
                             f"while waiting for {sorted(wanted)}")
        stuck = states.check(pod)
        if stuck is not None:
            raise WaitFailed(f"pod {namespace}/{name} cannot run: {stuck}")
        return None

    return watch_until(Target(core.list_namespaced_pod, namespace, "Pod", name=name), reached,
                       what=f"pod {namespace}/{name} phase in {sorted(wanted)}", timeout=timeout,
                       events_api=core, recheck=RECHECK_SECONDS)


def pod_reason(pod: client.V1Pod) -> str:
    status = pod.status
    if status is None:
        return "no status"
    parts = [p for p in (status.reason, status.message) if p]
    for cs in status.container_statuses or []:
        term = cs.state.terminated if cs.state else None
        if term is not None:
            parts.append(f"{cs.name} exit {term.exit_code} {term.reason or ''}".strip())
    return "; ".join(parts) or "no reason given"


def job_condition(job: client.V1Job) -> str | None:
    """'Complete' or 'Failed' when the job has finished, else None."""
    for cond in (job.status.conditions if job.status else None) or []:
        if cond.type in ("Complete", "Failed") and cond.status == "True":
            return str(cond.type)
    return None


def job_finished(api: client.ApiClient, namespace: str, name: str,
                 timeout: float | Deadline) -> tuple[client.V1Job, str]:
    """Wait until the Job is Complete or Failed; returns the job and which."""
    batch = client.BatchV1Api(api)

    def finished(objects: dict[str, Any]) -> tuple[client.V1Job, str] | None:
        job = objects.get(name)
        condition = job_condition(job) if job is not None else None
        return (job, condition) if condition else None

    return watch_until(Target(batch.list_namespaced_job, namespace, "Job", name=name), finished,
                       what=f"job {namespace}/{name} Complete or Failed", timeout=timeout,
                       events_api=client.CoreV1Api(api))


def owned_by(obj: Any, kind: str, name: str) -> bool:
    return any(ref.kind == kind and ref.name == name for ref in obj.metadata.owner_references or [])


def cronjob_next_job(api: client.ApiClient, namespace: str, cronjob: str, known: Collection[str],
                     timeout: float | Deadline) -> client.V1Job:
    """Wait for a Job of the CronJob that is not among `known` (the next run)."""
    batch = client.BatchV1Api(api)
    known_names = set(known)

    def new_job(objects: dict[str, Any]) -> client.V1Job | None:
        fresh = [j for j in objects.values() if owned_by(j, "CronJob", cronjob)
                 and j.metadata.name not in known_names]
        return min(fresh, key=lambda j: j.metadata.name) if fresh else None

    target = Target(batch.list_namespaced_job, namespace, "CronJob", about=cronjob)
    return watch_until(target, new_job, what=f"a new job of cronjob {namespace}/{cronjob}",
                       timeout=timeout, events_api=client.CoreV1Api(api),
                       describe=lambda objs: f"jobs {sorted(objs)}, known {sorted(known_names)}")


def gone(list_fn: Callable[..., Any], namespace: str | None, name: str, kind: str,
         timeout: float | Deadline, events_api: client.CoreV1Api | None = None) -> None:
    """Wait until the named object no longer exists."""

    def absent(objects: dict[str, Any]) -> bool | None:
        return True if name not in objects else None

    watch_until(Target(list_fn, namespace, kind, name=name), absent,
                what=f"{kind} {namespace + '/' if namespace else ''}{name} to be gone", timeout=timeout,
                events_api=events_api)


SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def ready_addresses(slices: dict[str, Any]) -> list[str]:
    """Ready endpoint addresses of EndpointSlices (or of an Endpoints object), sorted."""
    out: list[str] = []
    for obj in slices.values():
        if hasattr(obj, "endpoints"):  # discovery.k8s.io/v1 EndpointSlice
            for ep in obj.endpoints or []:
                ready = ep.conditions.ready if ep.conditions else None
                if ready is not False:  # unset means ready, per the EndpointSlice API
                    out.extend(ep.addresses or [])
        else:  # core/v1 Endpoints
            for subset in obj.subsets or []:
                out.extend(a.ip for a in subset.addresses or [])
    return sorted(out)


def endpoints(api: client.ApiClient, namespace: str, service: str, accept: Callable[[list[str]], bool],
              timeout: float | Deadline, what: str = "") -> list[str]:
    """Wait until the service's ready addresses satisfy `accept`; EndpointSlices, else Endpoints."""
    core = client.CoreV1Api(api)
    what = what or f"ready endpoints of service {namespace}/{service}"
    deadline = timeout if isinstance(timeout, Deadline) else Deadline(timeout)

    def check(objects: dict[str, Any]) -> list[str] | None:
        addresses = ready_addresses(objects)
        return addresses if accept(addresses) else None

    describe = lambda objs: f"ready addresses {ready_addresses(objs)}"  # noqa: E731
    if has_endpoint_slices(api):
        target = Target(client.DiscoveryV1Api(api).list_namespaced_endpoint_slice, namespace, "Service",
                        label_selector=f"{SERVICE_NAME_LABEL}={service}",
                        labels={SERVICE_NAME_LABEL: service}, about=service)
    else:
        target = Target(core.list_namespaced_endpoints, namespace, "Endpoints", name=service)
    return watch_until(target, check, what=what, timeout=deadline, describe=describe, events_api=core)


def endpoints_ready(api: client.ApiClient, namespace: str, service: str, at_least: int,
                    timeout: float | Deadline) -> list[str]:
    return endpoints(api, namespace, service, lambda a: len(a) >= at_least, timeout,
                     what=f"at least {at_least} ready endpoints of service {namespace}/{service}")


_SLICES: weakref.WeakKeyDictionary[client.ApiClient, bool] = weakref.WeakKeyDictionary()


def has_endpoint_slices(api: client.ApiClient) -> bool:
    """Whether discovery.k8s.io/v1 is served (asked once per client)."""
    if api in _SLICES:
        return _SLICES[api]
    _SLICES[api] = _discovery_served(api)
    return _SLICES[api]


def _discovery_served(api: client.ApiClient) -> bool:
    try:
        groups = client.ApisApi(api).get_api_versions(_request_timeout=(5, 10)).groups or []
    except ApiException:
        return False
    return any(g.name == "discovery.k8s.io" and any(v.version == "v1" for v in g.versions) for g in groups)


def ingress_address(api: client.ApiClient, namespace: str, name: str, timeout: float | Deadline) -> str:
    """Wait until the Ingress status carries the controller's address (IP or hostname)."""
    net = client.NetworkingV1Api(api)

    def address(objects: dict[str, Any]) -> str | None:
        ing = objects.get(name)
        lb = ing.status.load_balancer if ing is not None and ing.status else None
        for entry in (lb.ingress if lb else None) or []:
            if entry.ip or entry.hostname:
                return str(entry.ip or entry.hostname)
        return None

    return watch_until(Target(net.list_namespaced_ingress, namespace, "Ingress", name=name), address,
                       what=f"an address in the status of ingress {namespace}/{name}", timeout=timeout,
                       events_api=client.CoreV1Api(api))
