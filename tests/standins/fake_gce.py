"""A small compute/v1 REST fake for the gce provider's tests (stdlib http.server on 127.0.0.1).

It speaks the REST shapes google-cloud-compute sends and reads: networks, firewalls, regional
addresses, instances, zones, and zone/region/global operations that go PENDING -> RUNNING -> DONE
one step per get/wait. Errors are shaped like GCE's (`{"error": {"code", "message", "errors":
[{"reason"}]}}`) so the client raises Conflict/NotFound/BadRequest. Requests are validated (400 on
missing fields, bad labels, bad CIDRs, unknown networks; 400 when a network still has users) and
recorded. `fail_zone(zone, code)` makes instance inserts there end in an operation error such as
ZONE_RESOURCE_POOL_EXHAUSTED or QUOTA_EXCEEDED; `reject(...)` answers matching calls with an error at
once (403 quotaExceeded, 403 forbidden). `on_instance(callback)` lets a test play the VM's
boot (e.g. register a node with a Kubernetes stand-in).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.standins.serving import serving

_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_FILTER_EQ = re.compile(r'^labels\.([a-z0-9_-]+)\s*=\s*"?([^"]*)"?$')
_FILTER_HAS = re.compile(r"^labels\.([a-z0-9_-]+)\s*:\s*\*$")
_OP_ERROR_STATUS = {"ZONE_RESOURCE_POOL_EXHAUSTED": (503, "SERVICE UNAVAILABLE"),
                    "QUOTA_EXCEEDED": (403, "FORBIDDEN")}


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None


@dataclass
class FakeGCE:
    """State of one fake project. Start with `with FakeGCE.run(...) as gce:`; `gce.url`."""

    project: str = "fedtest-proj"
    zones: tuple[str, ...] = ("europe-west1-b", "europe-west4-a")
    nat_ip: str = "127.0.0.1"
    url: str = ""
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    firewalls: dict[str, dict[str, Any]] = field(default_factory=dict)
    addresses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    instances: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    zone_failures: dict[str, str] = field(default_factory=dict)
    instance_hooks: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    power_hooks: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    rejections: list[tuple[str, str, ApiError]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    @classmethod
    @contextlib.contextmanager
    def run(cls, **kwargs: Any) -> Iterator[FakeGCE]:
        fake = cls(**kwargs)
        with serving(_handler_for(fake), "fake-gce") as server:
            fake.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield fake

    # --- test controls -------------------------------------------------------------------
    def fail_zone(self, zone: str, code: str = "ZONE_RESOURCE_POOL_EXHAUSTED") -> None:
        self.zone_failures[zone] = code

    def reject(self, method: str, fragment: str, status: int, reason: str, message: str) -> None:
        """Answer matching requests with a GCE error at once (e.g. 403 quotaExceeded, 403 forbidden)."""
        self.rejections.append((method, fragment, ApiError(status, reason, message)))

    def on_instance(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """`hook(instance)` runs when an instance insert succeeds (the VM "boots")."""
        self.instance_hooks.append(hook)

    def on_power(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """`hook(instance)` runs after an instance stops or starts (its status says which)."""
        self.power_hooks.append(hook)

    def set_power(self, zone: str, name: str, running: bool) -> dict[str, Any]:
        instance = self.get("instances", zone, name)
        instance["status"] = "RUNNING" if running else "TERMINATED"
        for hook in self.power_hooks:
            hook(instance)
        return self._operation(f"zones/{zone}", "start" if running else "stop", instance["selfLink"])

    def serial_console(self, instance: dict[str, Any]) -> str:
        """What a booting VM prints: cloud-init echoing its user data (secrets included, as real ones do)."""
        items = instance.get("metadata", {}).get("items", [])
        user_data = next((i["value"] for i in items if i["key"] == "user-data"), "")
        return f"[    0.000000] Linux version 6.8.0-generic\ncloud-init: user-data:\n{user_data}\n"

    def all_resources(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return ([("network", r) for r in self.networks.values()]
                    + [("firewall", r) for r in self.firewalls.values()]
                    + [("address", r) for r in self.addresses.values()]
                    + [("instance", r) for r in self.instances.values()])

    def calls(self, method: str, fragment: str) -> list[Recorded]:
        return [r for r in list(self.requests) if r.method == method and fragment in r.path]

    # --- helpers -------------------------------------------------------------------------
    def _link(self, *parts: str) -> str:
        return f"{self.url}/compute/v1/projects/{self.project}/" + "/".join(parts)

    def _operation(self, scope: str, kind: str, target: str, error: str = "") -> dict[str, Any]:
        name = f"operation-{next(self._ids)}"
        op: dict[str, Any] = {
            "kind": "compute#operation", "id": str(next(self._ids)), "name": name, "operationType": kind,
            "targetLink": target, "status": "PENDING", "progress": 0,
            "selfLink": self._link(scope, "operations", name),
        }
        scope_kind, _, where = scope.partition("/")
        if scope_kind in ("zones", "regions"):
            op[scope_kind[:-1]] = self._link(scope)
        if error:
            status, text = _OP_ERROR_STATUS.get(error, (400, "BAD REQUEST"))
            op["_error"] = {"errors": [{"code": error, "message": f"{error} in {where}"}]}
            op["httpErrorStatusCode"], op["httpErrorMessage"] = status, text
        self.operations[f"{scope}/{name}"] = op
        return _public(op)

    def _advance(self, key: str) -> dict[str, Any]:
        op = self.operations.get(key)
        if op is None:
            raise _not_found(key)
        op["status"] = {"PENDING": "RUNNING", "RUNNING": "DONE"}.get(op["status"], "DONE")
        if op["status"] == "DONE":
            op["progress"] = 100
            if "_error" in op:
                op["error"] = op["_error"]
        return _public(op)

    def _check_labels(self, labels: dict[str, str]) -> None:
        for key, value in labels.items():
            if not _LABEL_KEY.match(key) or not isinstance(value, str) or not _LABEL_VALUE.match(value):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.labels': '{key}={value}'")

    def _check_name(self, body: dict[str, Any] | None) -> str:
        if not body or not body.get("name"):
            raise ApiError(400, "required", "Required field 'resource.name' not specified")
        if not _NAME.match(body["name"]):
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.name': '{body['name']}'")
        return body["name"]

    def _network_of(self, link: str) -> str:
        name = link.rstrip("/").rsplit("/", 1)[-1]
        if name not in self.networks:
            raise ApiError(404, "notFound", f"The resource 'projects/{self.project}/global/networks/{name}' "
                                            "was not found")
        return name

    def _zone(self, zone: str) -> None:
        if zone not in self.zones:
            raise _not_found(f"projects/{self.project}/zones/{zone}")

    # --- resources -----------------------------------------------------------------------
    def insert_network(self, body: dict[str, Any] | None) -> dict[str, Any]:
        name = self._check_name(body)
        assert body is not None
        if "autoCreateSubnetworks" not in body:
            raise ApiError(400, "required", "Required field 'resource.autoCreateSubnetworks' not specified")
        if name in self.networks:
            raise _exists(f"global/networks/{name}")
        link = self._link("global/networks", name)
        self.networks[name] = {**body, "id": str(next(self._ids)), "selfLink": link}
        return self._operation("global", "insert", self.networks[name]["selfLink"])

    def insert_firewall(self, body: dict[str, Any] | None) -> dict[str, Any]:
        name = self._check_name(body)
        assert body is not None
        if not body.get("network"):
            raise ApiError(400, "required", "Required field 'resource.network' not specified")
        self._network_of(body["network"])
        if not body.get("allowed") and not body.get("denied"):
            raise ApiError(400, "required", "Required field 'resource.allowed' not specified")
        for cidr in body.get("sourceRanges", []):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise _invalid("sourceRanges", cidr) from None
        if name in self.firewalls:
            raise _exists(f"global/firewalls/{name}")
        link = self._link("global/firewalls", name)
        self.firewalls[name] = {**body, "id": str(next(self._ids)), "selfLink": link}
        return self._operation("global", "insert", self.firewalls[name]["selfLink"])

    def insert_address(self, region: str, body: dict[str, Any] | None) -> dict[str, Any]:
        name = self._check_name(body)
        assert body is not None
        if not any(z.startswith(region + "-") for z in self.zones):
            raise _not_found(f"projects/{self.project}/regions/{region}")
        self._check_labels(body.get("labels", {}))
        if (region, name) in self.addresses:
            raise _exists(f"regions/{region}/addresses/{name}")
        link = self._link("regions", region, "addresses", name)
        self.addresses[(region, name)] = {**body, "address": self.nat_ip, "status": "RESERVED",
                                          "region": self._link("regions", region), "selfLink": link}
        return self._operation(f"regions/{region}", "insert", link)

    def insert_instance(self, zone: str, body: dict[str, Any] | None) -> dict[str, Any]:
        self._zone(zone)
        name = self._check_name(body)
        assert body is not None
        for required in ("machineType", "disks", "networkInterfaces"):
            if not body.get(required):
                raise ApiError(400, "required", f"Required field 'resource.{required}' not specified")
        if not any(d.get("boot") and d.get("initializeParams", {}).get("sourceImage") for d in body["disks"]):
            raise ApiError(400, "required", "Required field 'resource.disks[0].initializeParams.sourceImage' "
                                            "not specified")
        for nic in body["networkInterfaces"]:
            self._network_of(nic.get("network", ""))
        self._check_labels(body.get("labels", {}))
        if (zone, name) in self.instances:
            raise _exists(f"zones/{zone}/instances/{name}")
        link = self._link("zones", zone, "instances", name)
        failure = self.zone_failures.get(zone, "")
        if failure:
            return self._operation(f"zones/{zone}", "insert", link, error=failure)
        instance = json.loads(json.dumps(body))
        for i, nic in enumerate(instance["networkInterfaces"]):
            nic["networkIP"] = f"10.128.0.{len(self.instances) + 2 + i}"
            for access in nic.get("accessConfigs", []):
                access.setdefault("natIP", self.nat_ip)
        instance.update(id=str(next(self._ids)), status="RUNNING", selfLink=link,
                        zone=self._link("zones", zone))
        self.instances[(zone, name)] = instance
        for hook in self.instance_hooks:
            hook(instance)
        return self._operation(f"zones/{zone}", "insert", link)

    def delete(self, kind: str, where: str, name: str) -> dict[str, Any]:
        if kind == "networks":
            if name not in self.networks:
                raise _not_found(f"global/networks/{name}")
            users = [f["name"] for f in self.firewalls.values() if f["network"].endswith(f"/{name}")]
            users += [i["name"] for i in self.instances.values()
                      if any(n["network"].endswith(f"/{name}") for n in i["networkInterfaces"])]
            if users:
                raise ApiError(400, "resourceInUseByAnotherResource",
                               f"The network resource '{name}' is already being used by '{users[0]}'")
            self.networks.pop(name)
            return self._operation("global", "delete", self._link("global/networks", name))
        table: dict[Any, dict[str, Any]]
        table, key, scope = {
            "firewalls": (self.firewalls, name, "global"),
            "addresses": (self.addresses, (where, name), f"regions/{where}"),
            "instances": (self.instances, (where, name), f"zones/{where}"),
        }[kind]
        if key not in table:
            raise _not_found(f"{scope}/{kind}/{name}")
        link = table.pop(key)["selfLink"]
        return self._operation(scope, "delete", link)

    def get(self, kind: str, where: str, name: str) -> dict[str, Any]:
        found = {"networks": lambda: self.networks.get(name), "firewalls": lambda: self.firewalls.get(name),
                 "addresses": lambda: self.addresses.get((where, name)),
                 "instances": lambda: self.instances.get((where, name))}[kind]()
        if found is None:
            raise _not_found(f"{kind}/{name}")
        return found

    def aggregated(self, kind: str, flt: str) -> dict[str, Any]:
        table = self.instances if kind == "instances" else self.addresses
        scope = "zones" if kind == "instances" else "regions"
        items: dict[str, dict[str, Any]] = {}
        for (where, _name), res in table.items():
            if _matches(res.get("labels", {}), flt):
                items.setdefault(f"{scope}/{where}", {kind: []})[kind].append(res)
        return {"kind": f"compute#{kind[:-1]}AggregatedList", "items": items}


def _not_found(what: str) -> ApiError:
    return ApiError(404, "notFound", f"The resource '{what}' was not found")


def _exists(what: str) -> ApiError:
    return ApiError(409, "alreadyExists", f"The resource '{what}' already exists")


def _invalid(fld: str, value: str) -> ApiError:
    return ApiError(400, "invalid", f"Invalid value for field 'resource.{fld}': '{value}'")


def _public(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if not k.startswith("_")}


def _matches(labels: dict[str, str], flt: str) -> bool:
    """GCE list filters on labels: `labels.k = "v"`, `labels.k:*`, joined by AND."""
    if not flt.strip():
        return True
    for term in re.split(r"\s+AND\s+", flt.strip()):
        term = term.strip().strip("()").strip()
        if (m := _FILTER_EQ.match(term)) and labels.get(m.group(1)) != m.group(2):
            return False
        if (has := _FILTER_HAS.match(term)) and has.group(1) not in labels:
            return False
        if not m and not has:
            raise ApiError(400, "invalid", f"Invalid list filter expression '{term}'")
    return True


def _handler_for(fake: FakeGCE) -> type[BaseHTTPRequestHandler]:
    prefix = f"/compute/v1/projects/{fake.project}/"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `fake.requests` instead."""

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self._reply(400, _error(ApiError(400, "parseError", "Parse Error")))
                return
            query = parse_qs(parts.query)
            with fake.lock:
                fake.requests.append(Recorded(method, parts.path, query, body))
                try:
                    for verb, fragment, error in fake.rejections:
                        if verb == method and fragment in parts.path:
                            raise error
                    if not parts.path.startswith(prefix):
                        raise _not_found(parts.path)
                    self._reply(200, _route(fake, method, parts.path[len(prefix):].split("/"), query, body))
                except ApiError as err:
                    self._reply(err.status, _error(err))

        def do_GET(self) -> None:
            self._serve(self.command)

        do_POST = do_DELETE = do_GET

    return Handler


def _error(err: ApiError) -> dict[str, Any]:
    return {"error": {"code": err.status, "message": err.message,
                      "errors": [{"message": err.message, "domain": "global", "reason": err.reason}]}}


def _route(fake: FakeGCE, method: str, p: list[str], query: dict[str, list[str]],
           body: dict[str, Any] | None) -> dict[str, Any]:
    flt = query.get("filter", [""])[0]
    route = (method, len(p), p[0], p[2] if len(p) > 2 else "")
    if route[:3] == ("GET", 2, "zones"):
        fake._zone(p[1])
        return {"kind": "compute#zone", "name": p[1], "status": "UP", "selfLink": fake._link("zones", p[1])}
    if route[:3] == ("GET", 2, "aggregated") and p[1] in ("instances", "addresses"):
        return fake.aggregated(p[1], flt)
    if p[0] == "global" and len(p) >= 2 and p[1] in ("networks", "firewalls"):
        if method == "GET" and len(p) == 2:
            table = fake.networks if p[1] == "networks" else fake.firewalls
            return {"items": list(table.values())}
        if method == "POST" and len(p) == 2:
            return fake.insert_network(body) if p[1] == "networks" else fake.insert_firewall(body)
        if len(p) == 3:
            return fake.get(p[1], "", p[2]) if method == "GET" else fake.delete(p[1], "", p[2])
    if p[0] in ("zones", "regions", "global") and "operations" in p:
        scope = "global" if p[0] == "global" else f"{p[0]}/{p[1]}"
        name = p[p.index("operations") + 1]
        if (p[-1] == "wait" and method == "POST") or method == "GET":
            return fake._advance(f"{scope}/{name}")
    if p[0] in ("zones", "regions") and len(p) >= 3 and p[2] in ("instances", "addresses"):
        if p[0] == "zones":
            fake._zone(p[1])
        if method == "POST" and len(p) == 3:
            insert = fake.insert_instance if p[2] == "instances" else fake.insert_address
            return insert(p[1], body)
        if method == "GET" and len(p) == 3:
            table = fake.instances if p[2] == "instances" else fake.addresses
            found = [r for (w, _), r in table.items() if w == p[1] and _matches(r.get("labels", {}), flt)]
            return {"items": found}
        if len(p) == 4:
            return fake.get(p[2], p[1], p[3]) if method == "GET" else fake.delete(p[2], p[1], p[3])
        if (method, len(p), p[2]) == ("POST", 5, "instances") and p[4] in ("stop", "start"):
            return fake.set_power(p[1], p[3], p[4] == "start")
        if (method, len(p), p[2], p[-1]) == ("GET", 5, "instances", "serialPort"):
            instance = fake.get("instances", p[1], p[3])
            return {"kind": "compute#serialPortOutput", "contents": fake.serial_console(instance)}
    raise ApiError(404, "notFound", f"no route for {method} {'/'.join(p)}")
