"""GCE's spelling of the run tags (providers/bootstrap/tags.py): labels, and descriptions where
compute/v1 has no labels.

GCE label values allow only lowercase letters, digits, `_` and `-` (at most 63), so run ids and
owners are lowercased with other characters as `_`, and times are Unix seconds. Networks and
firewall rules have no labels in compute/v1: they carry the same pairs in their description as
`fedtest-labels: key=value,key=value`, which `from_description` reads back.
"""

from __future__ import annotations

from collections.abc import Mapping

from providers.bootstrap.tags import CLUSTER, CREATED, EXPIRES, GCE, OWNER, RUN, expired, label_value

__all__ = ["CLUSTER", "CREATED", "ENCODING", "EXPIRES", "OWNER", "RUN", "expired", "filter_expression",
           "from_description", "to_description", "value"]

ENCODING = GCE
value = label_value
_DESCRIPTION_PREFIX = "fedtest-labels: "


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
