"""N loopback Kubernetes API servers (kmock emulators) and a kubeconfig that reaches them.

kmock's quirks are handled here, never in production code:
- namespaces: kmock parses /api/v1/namespaces/NAME as "namespace NAME, no resource" and
  answers 500; `_parse_path` below reads it as the cluster-scoped resource it is;
- /version/ (with the slash the client uses) and /readyz are stubbed;
- bundled resource definitions are loaded so lists of never-created kinds answer 200;
- all servers run in ONE event-loop thread and close last-in-first-out (kmock patches
  aiohttp's resolver globally; one thread per server breaks shutdown);
- a reaction cannot hand aiohttp a response it has already sent (a websocket, for exec): it raises
  `Upgraded(response)` and `Emulator` returns that response as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import yaml
from kmock._internal import parsing

_original_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"] and parts[2:3] == ["namespaces"] and len(parts) <= 5:
        rest = parts[3:]
        if len(rest) <= 1 or rest[1] in ("status", "finalize"):
            return parsing.ParsedPath(
                "", "v1", "namespaces", None, rest[0] if rest else None, rest[1] if len(rest) > 1 else None
            )
    return _original_parse_path(path)


parsing.parse_path = _parse_path


class Upgraded(Exception):
    """Raised by a reaction that took the connection over (a websocket): this response is already sent."""

    def __init__(self, response: aiohttp.web.StreamResponse) -> None:
        super().__init__("connection upgraded")
        self.response = response


class Emulator(kmock.KubernetesEmulator):
    """kmock's emulator, plus reactions that answer with a response they sent themselves."""

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        try:
            return await super()._handle(request)
        except Upgraded as upgraded:
            return upgraded.response


def version_info(git_version: str) -> dict[str, str]:
    """All nine fields the client's VersionInfo model requires."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major, "minor": minor, "gitVersion": git_version, "gitCommit": "0" * 40,
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0",
        "compiler": "gc", "platform": "linux/amd64",
    }


@dataclass
class StandInCluster:
    name: str
    emulator: Any
    server: Any
    version: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Live objects of a kind (by plural), for assertions on server state."""
        out = []
        for (res, ns, _name), obj in list(self.emulator.objects.items()):
            if res.plural == plural and (namespace is None or ns == namespace) and not obj.deleted:
                out.append(obj.raw)
        return out

    def namespaces(self) -> list[str]:
        return sorted(o["metadata"]["name"] for o in self.objects("namespaces"))

    def requests(self) -> list[Any]:
        """Every request the server has received (kmock Request objects: .method, .url, .params)."""
        return list(self.emulator)

    def requests_to(self, fragment: str) -> int:
        return sum(1 for r in self.requests() if fragment in str(r.url))


@dataclass
class KubeStandIn:
    """Start with `with KubeStandIn.run(["a", "b"]) as kube:`; kube.write_kubeconfig(path)."""

    clusters: dict[str, StandInCluster] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    @contextlib.contextmanager
    def run(cls, names: list[str], version: str = "v1.31.2",
            status: dict[str, int] | None = None, not_ready: tuple[str, ...] = ()) -> Iterator[KubeStandIn]:
        """`status` makes a cluster answer every request with that HTTP status (e.g. 401);
        clusters in `not_ready` answer /readyz with 500 as an API server does while etcd is down."""
        standin = cls()
        loop = asyncio.new_event_loop()
        standin.loop = loop
        ready = threading.Event()
        stop: asyncio.Event | None = None
        failure: list[BaseException] = []

        async def serve() -> None:
            nonlocal stop
            stop = asyncio.Event()
            async with contextlib.AsyncExitStack() as stack:
                for name in names:
                    emu = await stack.enter_async_context(Emulator())
                    emu.resources.load_bundled()
                    if status and name in status:
                        emu << status[name]
                    emu["get /version/"] << version_info(version)
                    emu["get /version"] << version_info(version)
                    if name in not_ready:
                        emu["get /readyz"] << 500 << b"[-]etcd failed: reason withheld"
                    else:
                        emu["get /readyz"] << b"ok"
                    srv = await stack.enter_async_context(kmock.Server(emu))
                    standin.clusters[name] = StandInCluster(name, emu, srv, version)
                ready.set()
                await stop.wait()

        def main() -> None:
            try:
                loop.run_until_complete(serve())
            except BaseException as err:  # surfaced to the test below
                failure.append(err)
                ready.set()

        thread = threading.Thread(target=main, name="kube-standin", daemon=True)
        thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        try:
            yield standin
        finally:
            if stop is not None:
                loop.call_soon_threadsafe(stop.set)
            thread.join(30)
            if not thread.is_alive():  # a watch left open can hold shutdown past the join: leave that loop be
                loop.close()

    def call(self, fn: Any) -> Any:
        """Run `fn()` on the servers' loop (to add reactions safely); returns its result."""
        assert self.loop is not None

        async def wrapped() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(10)

    def kubeconfig(self, token: str = "standin-token", names: list[str] | None = None) -> dict[str, Any]:
        chosen = names or list(self.clusters)
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": n, "cluster": {"server": self.clusters[n].url}} for n in chosen],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": n, "context": {"cluster": n, "user": "admin"}} for n in chosen],
            "current-context": chosen[0],
        }

    def write_kubeconfig(self, path: Path, **kwargs: Any) -> Path:
        path.write_text(yaml.safe_dump(self.kubeconfig(**kwargs)), encoding="utf-8")
        return path
