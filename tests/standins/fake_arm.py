"""A fake Azure Resource Manager over HTTPS, for the real azure-identity + azure-mgmt-* clients.

What it does, like ARM: resource groups and the resources under them (NSG, VNet/subnets, public IP,
NIC, VM), long-running PUT/DELETE with Azure-AsyncOperation + Location + Retry-After: 0 (one
InProgress poll, then the outcome), tag filters on group lists, ARM error bodies, and a managed
identity token route (IDENTITY_ENDPOINT/IDENTITY_HEADER) so DefaultAzureCredential works unchanged.
What it checks: api-version, the bearer token, body shapes (400 without `location`/`properties`,
references to resources that must exist). Test knobs: `capacity[region] = code` makes VM creation
there fail (SkuNotAvailable and QuotaExceeded synchronously, AllocationFailed in the operation),
`on_vm` callbacks see each created VM, `requests` records every call.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.standins import fake_arm_power
from tests.standins.fake_arm_shapes import VALIDATORS, ArmError, require
from tests.standins.serving import serving
from tests.standins.tls import issue_server_cert, make_ca

SUBSCRIPTION = "00000000-0000-0000-0000-00000000f00d"
REGIONS = ("westeurope", "northeurope", "eastus")
_GROUP = re.compile(r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)$", re.I)
_GROUPS = re.compile(r"^/subscriptions/([^/]+)/resourcegroups$", re.I)
_NESTED = re.compile(r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/([^/]+)/([^/]+)(?:/([^/]+))?"
                     r"(?:/(instanceView))?$", re.I)
_CAPACITY_MESSAGES = {
    "SkuNotAvailable": (409, "SkuNotAvailable", "The requested VM size {size} is currently not available "
                        "in location '{region}'. Please try another size or deploy to a different location."),
    "QuotaExceeded": (409, "OperationNotAllowed", "Operation could not be completed as it results in exceeding "
                      "approved standardDSv5Family Cores quota. Location: {region}."),
    "AllocationFailed": (200, "AllocationFailed", "Allocation failed. We do not have sufficient capacity for "
                         "the requested VM size in this region."),
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Operation:
    outcome: str  # Succeeded | Failed
    polls: int = 0
    error: dict[str, str] | None = None
    finish: Callable[[], None] | None = None
    result: Callable[[], Any] | None = None


@dataclass
class FakeArm:
    url: str = ""
    ca_bundle: Path | None = None
    subscription: str = SUBSCRIPTION
    regions: tuple[str, ...] = REGIONS
    public_ip: str = "127.0.0.1"
    identity_header: str = field(default_factory=lambda: secrets.token_hex(8))
    token: str = field(default_factory=lambda: "arm-token-" + secrets.token_hex(8))
    capacity: dict[str, str] = field(default_factory=dict)
    on_vm: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)
    on_power: list[Callable[[str, bool], None]] = field(default_factory=list)
    run_commands: list[tuple[str, str]] = field(default_factory=list)
    run_command_output: Callable[[str, str], str] = field(default_factory=lambda: fake_arm_power.succeeded)
    requests: list[Recorded] = field(default_factory=list)
    store: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-case id -> resource
    operations: dict[str, Operation] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    @contextlib.contextmanager
    def run(cls, folder: Path, **kwargs: Any) -> Iterator[FakeArm]:
        fake = cls(**kwargs)
        ca_path, ca_pem, ca_key = make_ca(folder, "fake-arm-ca")
        cert, key = issue_server_cert(ca_pem, ca_key, folder, "fake-arm")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        with serving(_handler(fake), "fake-arm", tls=context) as server:
            fake.url, fake.ca_bundle = f"https://127.0.0.1:{server.server_address[1]}", ca_path
            yield fake

    def env(self) -> dict[str, str]:
        """Environment for the code under test: trust the fake's CA and take tokens from it."""
        assert self.ca_bundle is not None
        return {"REQUESTS_CA_BUNDLE": str(self.ca_bundle), "SSL_CERT_FILE": str(self.ca_bundle),
                "IDENTITY_ENDPOINT": f"{self.url}/msi/token", "IDENTITY_HEADER": self.identity_header,
                "AZURE_SUBSCRIPTION_ID": self.subscription}

    # -- state for assertions and seeding ---------------------------------------------------------
    def groups(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {r["name"]: r for r in self.store.values() if r["type"] == "Microsoft.Resources/resourceGroups"}

    def resources_in(self, group: str) -> list[dict[str, Any]]:
        prefix = f"/subscriptions/{self.subscription}/resourcegroups/{group}/".lower()
        with self.lock:
            return [r for key, r in self.store.items() if key.startswith(prefix)]

    def add_group(self, name: str, location: str = "westeurope", tags: dict[str, str] | None = None) -> None:
        rid = f"/subscriptions/{self.subscription}/resourceGroups/{name}"
        with self.lock:
            self.store[rid.lower()] = _group_resource(rid, name, location, tags or {})

    def calls(self, method: str, fragment: str) -> list[Recorded]:
        return [r for r in list(self.requests) if r.method == method and fragment.lower() in r.path.lower()]

    # -- operations -------------------------------------------------------------------------------
    def _operation(self, op: Operation) -> dict[str, str]:
        op_id = f"op{next(self._ids)}"
        self.operations[op_id] = op
        base = f"{self.url}/subscriptions/{self.subscription}/providers/Fake.Operations/operations/{op_id}"
        return {"Azure-AsyncOperation": f"{base}?api-version=2024-01-01",
                "Location": f"{base}/result?api-version=2024-01-01", "Retry-After": "0"}

    def poll(self, op_id: str, result: bool) -> tuple[int, Any]:
        with self.lock:
            op = self.operations.get(op_id)
            if op is None:
                raise ArmError(404, "OperationNotFound")
            op.polls += 1
            if op.polls == 1:
                return (202, None) if result else (200, {"status": "InProgress"})
            if op.finish is not None:
                op.finish()
                op.finish = None
            if result:
                return 200, (op.result() if op.result else {})
            body: dict[str, Any] = {"status": op.outcome}
            if op.error:
                body["error"] = op.error
            return 200, body

    # -- request handling -------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if "api-version" not in query:
            raise ArmError(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        if m := re.match(r"^/subscriptions/[^/]+/providers/Fake\.Operations/operations/([^/]+)(/result)?$", path):
            status, payload = self.poll(m[1], bool(m[2]))
            return status, payload, {"Retry-After": "0"}
        if (answer := fake_arm_power.route(self, method, path, body)) is not None:
            return answer
        if (m := _GROUPS.match(path)) and method == "GET":
            self._subscription(m[1])
            return 200, {"value": self._list_groups(query.get("$filter", ""))}, {}
        if m := _GROUP.match(path):
            self._subscription(m[1])
            return self._group(method, path, m[2], body)
        if m := _NESTED.match(path):
            self._subscription(m[1])
            return self._nested(method, path, m, body)
        raise ArmError(404, "InvalidResourceType", f"no route for {method} {path}")

    def _subscription(self, sub: str) -> None:
        if sub != self.subscription:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")

    def _list_groups(self, query: str) -> list[dict[str, Any]]:
        groups = list(self.groups().values())
        if not query:
            return groups
        m = re.fullmatch(r"tagName eq '([^']+)'(?: and tagValue eq '([^']*)')?", query.strip())
        if not m:
            raise ArmError(400, "InvalidFilterInQueryString", f"bad $filter {query!r}")
        name, value = m[1], m[2]
        return [g for g in groups if name in g["tags"] and (value is None or g["tags"][name] == value)]

    def _group(self, method: str, path: str, name: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        key = path.lower()
        with self.lock:
            existing = self.store.get(key)
            if method in ("GET", "HEAD"):
                if existing is None:
                    raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
                return (200, existing, {}) if method == "GET" else (204, None, {})
            if method == "PUT":
                location = require(body, "location")
                if location not in self.regions:
                    raise ArmError(400, "LocationNotAvailableForResourceGroup",
                                   f"The provided location '{location}' is not available for resource group.")
                if existing and existing["location"] != location:
                    raise ArmError(409, "InvalidResourceGroupLocation", "group exists in another location")
                tags = body.get("tags") or {}
                if not all(isinstance(v, str) for v in tags.values()):
                    raise ArmError(400, "InvalidTag", "tag values must be strings")
                rid = f"/subscriptions/{self.subscription}/resourceGroups/{name}"
                self.store[key] = _group_resource(rid, name, location, tags)
                return (200 if existing else 201), self.store[key], {}
            if method == "DELETE":
                if existing is None:
                    raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
                existing["properties"]["provisioningState"] = "Deleting"

                def finish() -> None:
                    for k in [k for k in self.store if k == key or k.startswith(key + "/")]:
                        del self.store[k]

                return 202, None, self._operation(Operation("Succeeded", finish=finish))
        raise ArmError(405, "MethodNotAllowed")

    def _nested(self, method: str, path: str, m: re.Match[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        group_key = f"/subscriptions/{self.subscription}/resourcegroups/{m[2]}".lower()
        rtype, name, view = f"{m[3]}/{m[4]}", m[5], m[6]
        with self.lock:
            group = self.store.get(group_key)
            if group is None or group["properties"]["provisioningState"] == "Deleting":
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{m[2]}' could not be found.")
            if name is None and method == "GET":
                prefix = f"{group_key}/providers/{rtype}/".lower()
                return 200, {"value": [r for k, r in self.store.items()
                                       if k.startswith(prefix) and "/" not in k[len(prefix):]]}, {}
            key = path.lower().removesuffix("/instanceview")
            existing = self.store.get(key)
            if method == "GET":
                if existing is None:
                    raise ArmError(404, "ResourceNotFound", f"The Resource '{rtype}/{name}' was not found.")
                if view:
                    state = existing["properties"]["provisioningState"].lower()
                    return 200, {"statuses": [
                        {"code": f"ProvisioningState/{state}", "displayStatus": f"Provisioning {state}"},
                        {"code": f"PowerState/{existing.get('_power', 'running')}",
                         "displayStatus": f"VM {existing.get('_power', 'running')}"}]}, {}
                return 200, existing, {}
            if method == "PUT":
                return self._put(key, rtype, name or "", group, body)
        raise ArmError(405, "MethodNotAllowed")

    def _put(self, key: str, rtype: str, name: str, group: dict[str, Any],
             body: Any) -> tuple[int, Any, dict[str, str]]:
        location = require(body, "location")
        props = require(body, "properties")
        if not isinstance(props, dict):
            raise ArmError(400, "InvalidRequestContent", "properties must be an object")
        rid = f"{group['id']}/providers/{rtype}/{name}"
        resource = {"id": rid, "name": name, "type": rtype, "location": location, "tags": body.get("tags") or {},
                    "properties": json.loads(json.dumps(props))}
        if "sku" in body:
            resource["sku"] = body["sku"]
        check = VALIDATORS.get(rtype.lower())
        if check is None:
            raise ArmError(400, "InvalidResourceType", f"the fake does not know {rtype}")
        check(self, resource)
        failure: dict[str, str] | None = None
        if rtype.lower() == "microsoft.compute/virtualmachines" and location in self.capacity:
            status, code, text = _CAPACITY_MESSAGES[self.capacity[location]]
            message = text.format(size=props["hardwareProfile"]["vmSize"], region=location)
            if status != 200:
                raise ArmError(status, code, message)
            failure = {"code": code, "message": message}
        resource["properties"]["provisioningState"] = "Failed" if failure else "Succeeded"
        self.store[key] = resource
        if not failure and rtype.lower() == "microsoft.compute/virtualmachines":
            for callback in self.on_vm:
                callback(name, resource)
        op = Operation("Failed" if failure else "Succeeded", error=failure, result=lambda: self.store.get(key))
        return 201, {**resource, "properties": {**resource["properties"], "provisioningState": "Creating"}}, \
            self._operation(op)

    def exists(self, rid: str, what: str) -> dict[str, Any]:
        """The stored resource `rid` refers to; 400 InvalidResourceReference when there is none."""
        found = self.store.get(rid.lower())
        if found is None:
            raise ArmError(400, "InvalidResourceReference", f"{what} {rid} was not found")
        return found


def _group_resource(rid: str, name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": "Microsoft.Resources/resourceGroups", "location": location,
            "tags": dict(tags), "properties": {"provisioningState": "Succeeded"}}


def _handler(fake: FakeArm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes: without this, Nagle + delayed ACK cost 40 ms a call.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if payload is None or self.command == "HEAD" else json.dumps(payload).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self._reply(400, {"error": {"code": "InvalidRequestContent", "message": "body is not JSON"}})
                return
            if parts.path == "/msi/token":
                self._token(query)
                return
            fake.requests.append(Recorded(self.command, parts.path, query, body))
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self._reply(401, {"error": {"code": "AuthenticationFailed", "message": "bad bearer token"}})
                return
            try:
                status, payload, headers = fake.handle(self.command, parts.path, query, body)
            except ArmError as err:
                self._reply(err.status, {"error": {"code": err.code, "message": err.message}})
                return
            self._reply(status, payload, headers)

        def _token(self, query: dict[str, str]) -> None:
            if self.headers.get("X-IDENTITY-HEADER") != fake.identity_header or "resource" not in query:
                self._reply(400, {"error": "invalid_request", "error_description": "bad identity request"})
                return
            self._reply(200, {"access_token": fake.token, "expires_on": str(int(time.time()) + 3600),
                              "resource": query["resource"], "token_type": "Bearer"})

        do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = do_PATCH = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler
