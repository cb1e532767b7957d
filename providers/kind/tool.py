"""Find and run the kind CLI and the container engine it drives, with one-line errors.

kind shells out to docker (or podman, chosen by KIND_EXPERIMENTAL_PROVIDER); a missing binary or an
engine that does not answer would otherwise surface minutes later as a failed `kind create`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from providers import stopping
from providers.base import ConfigError, DeadlineExceeded, ProviderError

ENGINES = ("docker", "podman")
_ENGINE_VERSION_FORMAT = {"docker": "{{.ServerVersion}}", "podman": "{{.Version.Version}}"}
_KIND_VERSION = re.compile(r"\bkind (v\d+\.\d+\.\d+\S*)")


class KindCommandFailed(ProviderError):
    """`kind ...` exited nonzero; the message carries kind's last error line."""


@dataclass(frozen=True)
class Toolchain:
    kind: str
    kind_version: str
    engine: str
    engine_version: str

    def env(self) -> dict[str, str]:
        """The environment for kind: the engine choice made explicit."""
        env = dict(os.environ)
        if self.engine != "docker":
            env["KIND_EXPERIMENTAL_PROVIDER"] = self.engine
        return env


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _run(argv: Sequence[str], timeout: float,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env, check=False)


def _pick_engine(requested: str | None) -> str:
    if requested:
        if requested not in ENGINES:
            raise ConfigError(f"container engine {requested!r} is not supported by kind here",
                              f"use one of: {', '.join(ENGINES)}")
        if shutil.which(requested) is None:
            raise ConfigError(f"container engine {requested!r} is not on PATH",
                              f"install {requested} or choose another with --provider-opt engine=")
        return requested
    for engine in ENGINES:
        if shutil.which(engine):
            return engine
    raise ConfigError("no container engine (docker or podman) is on PATH",
                      "install Docker (or podman) and make sure its daemon is running")


def find(requested_engine: str | None = None, timeout: float = 30.0) -> Toolchain:
    """The kind binary and a running engine, or a ConfigError naming what is missing."""
    kind = shutil.which("kind")
    if kind is None:
        raise ConfigError("the kind CLI is not on PATH",
                          "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)")
    engine = _pick_engine(requested_engine or os.environ.get("KIND_EXPERIMENTAL_PROVIDER") or None)
    try:
        info = _run([engine, "info", "--format", _ENGINE_VERSION_FORMAT[engine]], timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"container engine {engine} did not answer within {timeout:g}s",
                          f"check that the {engine} daemon is running") from None
    if info.returncode != 0:
        reason = last_line(info.stderr) or f"exit code {info.returncode}"
        raise ConfigError(f"container engine {engine} is not answering ({reason})",
                          f"start the {engine} daemon and retry")
    try:
        out = _run([kind, "version"], timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"`kind version` did not answer within {timeout:g}s",
                          "check the kind binary") from None
    match = _KIND_VERSION.search(out.stdout)
    if out.returncode != 0 or match is None:
        said = last_line(out.stderr or out.stdout)
        raise ConfigError(f"`{kind} version` did not print a kind version ({said})",
                          "install a released kind binary")
    return Toolchain(kind, match.group(1), engine, info.stdout.strip())


def run_kind(tools: Toolchain, args: Sequence[str], timeout: float, what: str, fix: str,
             stop: stopping.StopSignal = stopping.NEVER) -> str:
    """Run `kind ARGS`; return stdout, or raise a one-line error saying `what` failed, why, and `fix`.

    On the run's stop signal the command is killed and stopping.Stopped raised."""
    return run_tool(tools, [tools.kind, *args], timeout, what, fix, stop)


def run_tool(tools: Toolchain, argv: Sequence[str], timeout: float, what: str, fix: str,
             stop: stopping.StopSignal = stopping.NEVER) -> str:
    """Run kind or the engine (argv[0]) with kind's environment; errors as run_kind's."""
    try:
        done = stopping.run(argv, timeout, stop, what, env=tools.env())
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(f"{what} did not finish within {timeout:g}s",
                               "raise --deadline or check the container engine") from None
    if done.returncode != 0:
        reason = last_line(done.stderr) or last_line(done.stdout) or f"exit code {done.returncode}"
        raise KindCommandFailed(f"{what} failed ({reason})", fix)
    return done.stdout


def image_digests(tools: Toolchain, image: str, timeout: float = 30.0) -> list[str] | None:
    """The registry digests the engine knows for a local image ([] if built locally); None if it has none."""
    try:
        done = _run([tools.engine, "image", "inspect", "--format", "{{json .RepoDigests}}", image], timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"`{tools.engine} image inspect {image}` did not answer within {timeout:g}s",
                          f"check that the {tools.engine} daemon is running") from None
    if done.returncode != 0:
        return None
    try:
        digests = json.loads(done.stdout.strip() or "null")
    except ValueError:
        return None
    return [str(d) for d in digests or []]
