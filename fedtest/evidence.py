"""Evidence from the moment a test fails: its namespaces dumped before any fixture's teardown runs.

The namespace fixtures register what they created on the test item (`register`). When the setup or
call phase fails, the plugin's pytest_runtest_makereport calls `capture`: no fixture has torn
anything down yet, so the dump still holds the Service a fixture deletes in its teardown. Every
cluster a federation test used is dumped, in parallel, under one size cap per test. One index.txt
per test (per attempt when the test is rerun) says what was captured, what failed to be, and where
the cap cut: plain text, read the same in a terminal and in a browser.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from e2e.framework import diagnostics
from e2e.framework.fanout import fan_out
from fedtest.settings import Settings
from upload import files

INDEX = "index.txt"


@dataclass(frozen=True)
class Target:
    """A namespace a test created in one cluster."""

    cluster: str
    api: client.ApiClient
    namespace: str


_TARGETS = pytest.StashKey[list[Target]]()
_CAPTURED = pytest.StashKey[set[int]]()


def register(item: pytest.Item, cluster: str, api: client.ApiClient, namespace: str) -> None:
    """Called by a fixture right after it created `namespace` in `cluster`: dump it if the test fails."""
    item.stash.setdefault(_TARGETS, []).append(Target(cluster, api, namespace))


def forget(item: pytest.Item) -> None:
    """A new attempt of the test starts: the namespaces of the last one are gone."""
    item.stash[_TARGETS] = []


def attempt_of(item: pytest.Item) -> int:
    """1 for the first run of a test; pytest-rerunfailures counts its reruns on the item."""
    return int(getattr(item, "execution_count", 1) or 1)


def capture(item: pytest.Item, when: str, message: str, artifacts: Path, cap_bytes: int) -> Path | None:
    """Dump every registered namespace now; returns the index file, or None (nothing registered, or
    this attempt was captured already)."""
    targets = item.stash.get(_TARGETS, [])
    attempt = attempt_of(item)
    done = item.stash.setdefault(_CAPTURED, set())
    if not targets or attempt in done:
        return None
    done.add(attempt)
    base = diagnostics.test_dir(artifacts, item.nodeid)
    dest = base if attempt == 1 else base / f"attempt-{attempt}"
    per_cluster = Counter(t.cluster for t in targets)
    folders = {t: t.cluster if per_cluster[t.cluster] == 1 else f"{t.cluster}/{t.namespace}" for t in targets}
    budget = diagnostics.Budget(cap_bytes)
    start = time.monotonic()
    outcome = fan_out(lambda _key, t: diagnostics.dump_namespace(t.api, t.cluster, t.namespace, dest / folders[t],
                                                                 budget), {folders[t]: t for t in targets})
    dumps = [outcome.results[folders[t]] if folders[t] in outcome.results
             else diagnostics.NamespaceDump(t.cluster, t.namespace, errors=[f"dump: {outcome.errors[folders[t]]!r}"])
             for t in targets]
    heading = f"{item.nodeid}" + (f" (attempt {attempt})" if attempt > 1 else "")
    text = index_text(heading, when, message, dumps, budget, dest, time.monotonic() - start)
    return files.write_path(dest / INDEX, text.encode("utf-8"))  # never through a link


def capture_into(report: pytest.TestReport, item: pytest.Item, message: str, settings: Settings) -> None:
    """`capture`, then the index's path on the report: a JUnit property and a section of the failure's
    report. Never raises: the test's own failure is what must reach the report."""
    try:
        index = capture(item, report.when, message, settings.artifacts, int(settings.diagnostics_cap_mib * 1024**2))
    except Exception as err:
        report.sections.append(("fedtest diagnostics", f"not captured: {type(err).__name__}: {err}\n"))
        return
    if index is not None:
        report.user_properties.append(("diagnostics", index.relative_to(settings.artifacts).as_posix()))
        report.sections.append(("fedtest diagnostics", f"{index}\n"))


def index_text(heading: str, when: str, message: str, dumps: list[diagnostics.NamespaceDump],
               budget: diagnostics.Budget, dest: Path, seconds: float) -> str:
    """The index: the failure, each namespace's pods and errors, then every file with its size."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    cut = budget.cut
    lines = [
        f"Diagnostics of {heading}",
        f"captured {stamp} when its {when} phase failed, before any fixture's teardown ran ({seconds:.1f}s)",
        f"failure: {message or '(no message)'}",
        f"size: {diagnostics.human_size(budget.used)} of the {diagnostics.human_size(budget.cap)} cap per test"
        + (f"; {len(cut)} file(s) cut at the cap, marked CUT below" if cut else "; nothing cut"),
        "",
    ]
    for d in dumps:
        lines.append(f"cluster {d.cluster}, namespace {d.namespace}")
        lines.append("  pods:" if d.pods else "  pods: none")
        lines.extend(f"    {p}" for p in d.pods)
        if d.errors:
            lines.append("  not captured:")
            lines.extend(f"    {e}" for e in d.errors)
        lines.append("")
    lines.append("files:")
    for w in sorted(budget.files, key=lambda w: str(w.path)):
        mark = "CUT" if w.cut else "   "
        lines.append(f"  {mark} {diagnostics.human_size(w.size):>10}  {w.path.relative_to(dest).as_posix():48}  "
                     f"{w.note}".rstrip())
    return "\n".join(lines) + "\n"
