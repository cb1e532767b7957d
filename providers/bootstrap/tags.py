"""The tags every cloud resource of a run carries, and how each cloud spells them.

One model: fedtest-run, fedtest-owner, fedtest-cluster, fedtest-created and fedtest-expires. Clouds
differ only in what a value may hold, so each has an Encoding: Azure tags take any text and ISO
times; GCE labels take [a-z0-9_-] and Unix seconds. One reader (`moment`) parses both time
spellings, so the janitor's "expired?" is the same question everywhere, and a value it cannot read
is never taken as expired.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

RUN, OWNER, CLUSTER, CREATED, EXPIRES = (
    "fedtest-run", "fedtest-owner", "fedtest-cluster", "fedtest-created", "fedtest-expires")


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_seconds(moment: dt.datetime) -> str:
    return str(int(moment.timestamp()))


def moment(text: str) -> dt.datetime | None:
    """A created/expires value in either spelling (Unix seconds or ISO 8601 with a zone), else None."""
    text = text.strip()
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def expired(tags: Mapping[str, str], now: dt.datetime) -> bool:
    """True only for a readable expiry at or before `now`: untagged or unreadable means keep."""
    when = moment(tags.get(EXPIRES, ""))
    return when is not None and when <= now


@dataclass(frozen=True)
class Encoding:
    """How one cloud writes tag values: `value` for names, `time` for created/expires."""

    value: Callable[[str], str]
    time: Callable[[dt.datetime], str]

    def for_cluster(self, run_id: str, owner: str, cluster: str, created: dt.datetime,
                    ttl: dt.timedelta) -> dict[str, str]:
        return {RUN: self.value(run_id), OWNER: self.value(owner), CLUSTER: self.value(cluster),
                CREATED: self.time(created), EXPIRES: self.time(created + ttl)}

    def of_cluster(self, cluster: str, run_id: str) -> dict[str, str]:
        """The tags that pick out one cluster of one run."""
        return {RUN: self.value(run_id), CLUSTER: self.value(cluster)}


_LABEL_INVALID = re.compile(r"[^a-z0-9_-]")


def label_value(text: str) -> str:
    """Text as a GCE label value: lowercase, other characters as `_`, at most 63 (deterministic)."""
    return _LABEL_INVALID.sub("_", text.lower())[:63]


AZURE = Encoding(value=str, time=iso_utc)
GCE = Encoding(value=label_value, time=unix_seconds)
