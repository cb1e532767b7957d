"""Turn user input (CLI flags or pytest options) into ProviderOptions, with one-line errors."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import secrets
import shlex
import tempfile
from collections.abc import Iterable
from pathlib import Path

from providers.base import ConfigError, ProviderOptions

_K8S_VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?$")


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique enough to tag cloud resources and label namespaces (<= 63 chars)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def parse_contexts(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    names = tuple(c.strip() for c in raw.split(",") if c.strip())
    if not names:
        raise ConfigError(f"--contexts {raw!r} names no context", "pass --contexts a,b")
    return names


ENV_OPTS = "FEDTEST_PROVIDER_OPTS"
# Settings every provider shares are flags of their own; as a provider setting they would be ignored.
_COMMON = ("kubeconfig", "contexts", "k8s_version", "image_registry", "work_dir", "deadline", "clusters")


def parse_extra(pairs: Iterable[str], env_value: str | None = None) -> dict[str, str]:
    """KEY=VALUE pairs into a dict: $FEDTEST_PROVIDER_OPTS (space-separated) first, `pairs` over it."""
    extra: dict[str, str] = {}
    for pair in [*shlex.split(env_value or ""), *pairs]:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--provider-opt {pair!r} is not KEY=VALUE",
                              "write it as --provider-opt region=westeurope")
        if key.replace("-", "_") in _COMMON:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"--provider-opt {key} is not a provider setting but a common one",
                              f"pass {flag} instead")
        extra[key] = value
    return extra


def mirrored(ref: str, registry: str | None) -> str:
    """An image through --image-registry: registry.k8s.io/x/y:t -> MIRROR/x/y:t, busybox:1 -> MIRROR/busybox:1.

    A digest stays as it is: a faithful mirror copy has the same digest.
    """
    if not registry:
        return ref
    first, _, rest = ref.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else ref
    return f"{registry.rstrip('/')}/{path}"


def default_work_dir(run_id: str) -> Path:
    """Kubeconfigs and keys live here, never under artifacts/ (which is published)."""
    return Path(tempfile.gettempdir()) / "fedtest" / run_id


def build(
    *,
    run_id: str,
    kubeconfig: str | None = None,
    contexts: str | None = None,
    k8s_version: str | None = None,
    image_registry: str | None = None,
    extra: Iterable[str] = (),
    work_dir: str | None = None,
    deadline_seconds: float = 600.0,
    ttl_hours: float = 6.0,
) -> ProviderOptions:
    if k8s_version and not _K8S_VERSION.match(k8s_version):
        raise ConfigError(f"--k8s-version {k8s_version!r} is not a Kubernetes version", "write it as 1.31 or v1.31.2")
    if deadline_seconds <= 0:
        raise ConfigError(f"deadline {deadline_seconds:g}s is not positive", "pass a number of seconds above 0")
    kc = Path(kubeconfig).expanduser() if kubeconfig else None
    if kc is None and os.environ.get("KUBECONFIG") and contexts:
        kc = Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]).expanduser()
    try:
        owner = getpass.getuser()
    except (KeyError, OSError):
        owner = "fedtest"
    return ProviderOptions(
        work_dir=Path(work_dir) if work_dir else default_work_dir(run_id),
        run_id=run_id,
        owner=re.sub(r"[^a-z0-9-]", "-", owner.lower())[:63] or "fedtest",
        ttl=dt.timedelta(hours=ttl_hours),
        k8s_version=k8s_version.lstrip("v") if k8s_version else None,
        kubeconfig=kc,
        contexts=parse_contexts(contexts),
        image_registry=image_registry,
        extra=parse_extra(extra, os.environ.get(ENV_OPTS)),
        deadline_seconds=deadline_seconds,
    )
