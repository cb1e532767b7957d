"""Turn user input (CLI flags or pytest options) into ProviderOptions, with one-line errors."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import secrets
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


def parse_extra(pairs: Iterable[str]) -> dict[str, str]:
    extra = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--provider-opt {pair!r} is not KEY=VALUE",
                              "write it as --provider-opt region=westeurope")
        extra[key.strip()] = value
    return extra


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
        extra=parse_extra(extra),
        deadline_seconds=deadline_seconds,
    )
