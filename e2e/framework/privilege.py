"""The dispatcher's identity: a ServiceAccount bound to a Role that allows only what running a job needs.

The harness mints the account's token with the TokenRequest API (short-lived, never stored in a
Secret) and builds the dispatcher's client from it alone: no client certificate, password or exec
plugin of the admin kubeconfig survives, so every request is the ServiceAccount's. The token never
reaches a log or a result.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders

DISPATCHER = "runner-dispatcher"
TOKEN_SECONDS = 3600

# What the launcher does in the runner namespace, and nothing else: create, follow, read the log of
# and delete runner pods; exec into their collector to copy the artifacts out (the client's websocket
# exec is a GET, authorized as `get`; kube-apiserver 1.35+ also checks `create` on the upgrade, as it
# always did for SPDY); create and delete their source ConfigMaps; list events to explain a timeout.
DISPATCHER_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
]


@dataclass(frozen=True)
class Identity:
    namespace: str
    service_account: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def service_account(name: str) -> builders.Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": builders.meta(name),
            "automountServiceAccountToken": False}


def role(name: str, rules: list[dict[str, Any]]) -> builders.Manifest:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": builders.meta(name),
            "rules": copy.deepcopy(rules)}


def role_binding(name: str, role_name: str, namespace: str, account: str) -> builders.Manifest:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": builders.meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]}


def grant_dispatcher(api: client.ApiClient, namespace: str, name: str = DISPATCHER,
                     rules: list[dict[str, Any]] = DISPATCHER_RULES) -> Identity:
    """The ServiceAccount, its Role (DISPATCHER_RULES unless told) and the RoleBinding, in the runner
    namespace (as an admin)."""
    for manifest in (service_account(name), role(name, rules),
                     role_binding(name, name, namespace, name)):
        builders.create(api, namespace, manifest)
    return Identity(namespace, name)


def mint_token(api: client.ApiClient, identity: Identity, seconds: int = TOKEN_SECONDS) -> str:
    """A bound token for the account from the TokenRequest API (serviceaccounts/token)."""
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
        audiences=[], expiration_seconds=seconds))
    answer = client.CoreV1Api(api).create_namespaced_service_account_token(
        identity.service_account, identity.namespace, request)
    return str(answer.status.token)


def client_for_token(api: client.ApiClient, token: str) -> client.ApiClient:
    """A client for the same server that authenticates with `token` and nothing else."""
    conf = copy.deepcopy(api.configuration)
    conf.api_key = {"authorization": f"Bearer {token}"}
    conf.api_key_prefix = {}
    conf.refresh_api_key_hook = None
    conf.cert_file = conf.key_file = None
    conf.username = conf.password = None
    return client.ApiClient(conf)


def whoami(api: client.ApiClient) -> str | None:
    """The user the server sees (SelfSubjectReview); None when the server does not offer it."""
    try:
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview(metadata=client.V1ObjectMeta()))
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return str(review.status.user_info.username)


def can_i(api: client.ApiClient, verb: str, resource: str, namespace: str | None = None) -> bool:
    """What the server's authorizer says the caller may do (SelfSubjectAccessReview)."""
    attributes = client.V1ResourceAttributes(verb=verb, resource=resource, namespace=namespace)
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=attributes)))
    return bool(review.status.allowed)
