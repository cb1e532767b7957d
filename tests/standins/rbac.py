"""Authentication and RBAC for the stand-in API, which has neither.

Tokens minted through the TokenRequest API (POST .../serviceaccounts/NAME/token) authenticate as
that ServiceAccount; its requests are authorized by the Roles its RoleBindings grant in the
request's namespace (no ClusterRoles: the accounts here get none), and a denial is a 403 Status
worded as kube-apiserver words it. Requests with any other token are the admin's and pass.
SelfSubjectReview and SelfSubjectAccessReview answer from the same rules. A websocket upgrade to
pods/exec, pods/attach or pods/portforward (a GET, authorized as `get`) is also checked for `create`,
as kube-apiserver 1.35+ does (AuthorizePodWebsocketUpgradeCreatePermission). Every decision about a
ServiceAccount is recorded for assertions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kmock

from tests.standins.kube import KubeStandIn

UPGRADE_CHECKED = {"pods/exec", "pods/attach", "pods/portforward"}
TOKEN_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$")


@dataclass(frozen=True)
class Attributes:
    """What a request asks for, in the authorizer's terms."""

    verb: str
    group: str
    resource: str  # with its subresource: "pods/log"
    namespace: str | None
    name: str | None


@dataclass(frozen=True)
class Decision:
    user: str
    attributes: Attributes
    allowed: bool


def attributes(method: str, path: str, params: dict[str, str]) -> Attributes | None:
    """The request's attributes, or None for a non-resource URL (/version, /apis, /readyz)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    name = rest[1] if len(rest) > 1 else None
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method)
    if method == "GET":
        verb = "watch" if params.get("watch") in ("true", "1") else "get" if name else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    return Attributes(verb or method.lower(), group, resource, namespace, name)


def rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    def has(values: list[str] | None, wanted: str) -> bool:
        return bool(values) and ("*" in values or wanted in values)

    names = rule.get("resourceNames")
    return (has(rule.get("apiGroups"), attrs.group) and has(rule.get("resources"), attrs.resource)
            and has(rule.get("verbs"), attrs.verb) and (not names or attrs.name in names))


class StandInRBAC:
    """`with StandInRBAC.serving(kube, "east") as rbac:`; rbac.decisions lists what was decided."""

    def __init__(self, kube: KubeStandIn, cluster: str) -> None:
        self.kube = kube
        self.emulator = kube.clusters[cluster].emulator
        self.tokens: dict[str, str] = {}
        self.decisions: list[Decision] = []

    @classmethod
    @contextlib.contextmanager
    def serving(cls, kube: KubeStandIn, cluster: str) -> Iterator[StandInRBAC]:
        rbac = cls(kube, cluster)
        kube.call(lambda: rbac.emulator.override << rbac._react)
        yield rbac

    def _objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        return [obj.raw for (res, ns, _n), obj in list(self.emulator.objects.items())
                if res.plural == plural and ns == namespace and not obj.deleted]

    def allows(self, user: str, attrs: Attributes) -> bool:
        _, _, account_ns, account = user.split(":", 3)
        if attrs.namespace is None:
            return False
        roles = {r["metadata"]["name"]: r for r in self._objects("roles", attrs.namespace)}
        for binding in self._objects("rolebindings", attrs.namespace):
            subjects = binding.get("subjects") or []
            if not any(s.get("kind") == "ServiceAccount" and s.get("name") == account
                       and s.get("namespace", attrs.namespace) == account_ns for s in subjects):
                continue
            role = roles.get(binding["roleRef"]["name"]) if binding["roleRef"]["kind"] == "Role" else None
            if role and any(rule_allows(rule, attrs) for rule in role.get("rules") or []):
                return True
        return False

    def _react(self, request: kmock.Request) -> Any:
        path, method = request.url.path, str(request.method).rsplit(".", 1)[-1].upper()
        minted = TOKEN_PATH.match(path)
        if minted and method == "POST":
            token = secrets.token_urlsafe(24)
            self.tokens[token] = f"system:serviceaccount:{minted.group(1)}:{minted.group(2)}"
            return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {"name": minted.group(2), "namespace": minted.group(1)},
                    "spec": (request.data or {}).get("spec", {}),
                    "status": {"token": token, "expirationTimestamp": "2099-01-01T00:00:00Z"}}
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        user = self.tokens.get(bearer)
        if path.endswith("/selfsubjectreviews"):
            return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
                    "status": {"userInfo": {"username": user or "kubernetes-admin"}}}
        if path.endswith("/selfsubjectaccessreviews"):
            spec = (request.data or {}).get("spec", {}).get("resourceAttributes", {})
            asked = Attributes(spec.get("verb", ""), spec.get("group", ""), spec.get("resource", ""),
                               spec.get("namespace"), spec.get("name"))
            return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {},
                    "spec": request.data.get("spec", {}),
                    "status": {"allowed": user is None or self.allows(user, asked)}}
        attrs = attributes(method, path, dict(request.params))
        if user is None or attrs is None:
            raise NotImplementedError  # the admin, or discovery: the emulator answers
        checks = [attrs]
        if attrs.resource in UPGRADE_CHECKED and request.headers.get("Upgrade", "").lower() == "websocket":
            checks.append(dataclasses.replace(attrs, verb="create"))
        for asked in checks:
            allowed = self.allows(user, asked)
            self.decisions.append(Decision(user, asked, allowed))
            if not allowed:
                return kmock.Response(status=403, payload=forbidden(user, asked))
        raise NotImplementedError


def forbidden(user: str, attrs: Attributes) -> dict[str, Any]:
    base = attrs.resource.split("/")[0]
    subject = f'{base} "{attrs.name}"' if attrs.name else base
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    message = (f'{subject} is forbidden: User "{user}" cannot {attrs.verb} resource "{attrs.resource}" '
               f'in API group "{attrs.group}" {scope}')
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Forbidden", "details": {"name": attrs.name or "", "kind": base}, "code": 403}
