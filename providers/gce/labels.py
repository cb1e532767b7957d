"""The labels every fedtest resource on GCE carries, and how they are encoded.

GCE label values allow only lowercase letters, digits, `_` and `-` (at most 63), so:
- fedtest-run: the run id, lowercased, other characters replaced by `_`;
- fedtest-owner: the owner, encoded the same way;
- fedtest-cluster: the cluster name (already a valid GCE name);
- fedtest-created, fedtest-expires: Unix seconds (UTC) as decimal digits, e.g. 1795316400.
Networks and firewall rules have no labels in compute/v1: they carry the same pairs in their
description as `fedtest-labels: key=value,key=value`, which `from_description` reads back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

RUN, OWNER, CLUSTER, CREATED, EXPIRES = (
    "fedtest-run", "fedtest-owner", "fedtest-cluster", "fedtest-created", "fedtest-expires",
)
_DESCRIPTION_PREFIX = "fedtest-labels: "
_INVALID = re.compile(r"[^a-z0-9_-]")


def value(text: str) -> str:
    """A string as a valid GCE label value (deterministic, so lookups encode the same way)."""
    return _INVALID.sub("_", text.lower())[:63]


def timestamp(moment: dt.datetime) -> str:
    return str(int(moment.timestamp()))


def for_cluster(run_id: str, owner: str, cluster: str, created: dt.datetime,
                ttl: dt.timedelta) -> dict[str, str]:
    return {
        RUN: value(run_id), OWNER: value(owner), CLUSTER: value(cluster),
        CREATED: timestamp(created), EXPIRES: timestamp(created + ttl),
    }


def expired(labels: Mapping[str, str], now: dt.datetime) -> bool:
    """True only for a well-formed expiry in the past: unlabelled or unreadable means keep."""
    raw = labels.get(EXPIRES, "")
    return raw.isdigit() and int(raw) <= now.timestamp()


def to_description(labels: Mapping[str, str]) -> str:
    return _DESCRIPTION_PREFIX + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def from_description(description: str) -> dict[str, str]:
    if not description.startswith(_DESCRIPTION_PREFIX):
        return {}
    pairs = (item.partition("=") for item in description[len(_DESCRIPTION_PREFIX):].split(","))
    return {k: v for k, sep, v in pairs if sep and k}


def filter_expression(labels: Mapping[str, str]) -> str:
    """A compute/v1 list filter matching every given label exactly."""
    return " AND ".join(f'labels.{k} = "{v}"' for k, v in sorted(labels.items()))
