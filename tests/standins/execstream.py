"""The pods/exec endpoint for the stand-in API, speaking Kubernetes' streaming protocol over a websocket.

kmock has no exec. This serves GET /api/v1/namespaces/NS/pods/NAME/exec as kube-apiserver does for
the official client's `kubernetes.stream.stream()`: the request must be a websocket upgrade (else 400
"Upgrade request required"); the subprotocol is the first of the client's list that the server speaks
(v5.channel.k8s.io, then v4.channel.k8s.io, as a 1.30+ server; `protocols` narrows that); the command
comes as repeated `command` parameters and the container as `container`. Every message is a binary
frame whose first byte is the channel: 1 stdout, 2 stderr, 3 the closing v1 Status (Success, or
Failure with reason NonZeroExitCode and the exit code as the ExitCode cause). The command itself runs
through `ExecTargets.find`, supplied by the fake kubelet (which knows the container's env and volumes).

Faults stand in for a bad network: `cut` drops the connection after some stdout bytes without a
Status; `flip` changes one byte of stdout in flight. Each applies to the next `times` sessions whose
stdout passes `after` bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import kmock

from tests.standins.kube import KubeStandIn, Upgraded

EXEC_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec$")
EXEC_ROUTE = re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/]+/exec")
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3
FRAME_BYTES = 32 * 1024


@dataclass(frozen=True)
class Process:
    """How to run a command in a container here: its environment and working folder."""

    env: dict[str, str]
    cwd: str


@dataclass
class Fault:
    kind: str  # "cut" or "flip"
    after: int  # stdout bytes sent before it strikes
    times: int = 1


@dataclass
class Session:
    """One exec session, recorded as it starts: where, what, and the stdout bytes sent so far."""

    container: str
    command: list[str]
    sent: int = 0


@dataclass
class ExecEndpoint:
    """Serves exec; `sessions` lists every upgraded session for assertions."""

    find: Callable[[str, str, str], Process | str]  # (namespace, pod, container) -> Process or why not
    protocols: tuple[str, ...] = PROTOCOLS
    faults: list[Fault] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)

    @classmethod
    def serve(cls, kube: KubeStandIn, cluster: str, find: Callable[[str, str, str], Process | str],
              **kwargs: Any) -> ExecEndpoint:
        endpoint = cls(find, **kwargs)
        emulator = kube.clusters[cluster].emulator
        kube.call(lambda: emulator["get"][EXEC_ROUTE] << endpoint._react)
        return endpoint

    async def _react(self, request: kmock.Request) -> Any:
        namespace, pod = EXEC_PATH.match(request.url.path).groups()  # type: ignore[union-attr]
        raw: aiohttp.web.BaseRequest = request._raw_request
        if raw.headers.get("Upgrade", "").lower() != "websocket":
            return kmock.Response(status=400, payload=status_failure(400, "BadRequest", "Upgrade request required"))
        command = raw.query.getall("command", [])
        container = raw.query.get("container", "")
        if not command:
            return kmock.Response(status=400, payload=status_failure(400, "BadRequest",
                                                                     "you must specify at least 1 command"))
        target = self.find(namespace, pod, container)
        if isinstance(target, str):
            return kmock.Response(status=400, payload=status_failure(400, "BadRequest", target))
        ws = aiohttp.web.WebSocketResponse(protocols=self.protocols, max_msg_size=0)
        await ws.prepare(raw)
        session = Session(container, command)
        self.sessions.append(session)
        await self._session(ws, raw, session, target)
        raise Upgraded(ws)

    def _fault(self, sent: int, size: int) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and sent <= fault.after < sent + size:
                fault.times -= 1
                return fault
        return None

    async def _session(self, ws: aiohttp.web.WebSocketResponse, raw: aiohttp.web.BaseRequest, session: Session,
                       target: Process) -> None:
        proc = await asyncio.create_subprocess_exec(*session.command, env=target.env, cwd=target.cwd,
                                                    stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await self._relay(ws, raw, session, proc)
        finally:  # closed on this loop, not by the garbage collector after the loop has stopped
            proc._transport.close()  # type: ignore[attr-defined]

    async def _relay(self, ws: aiohttp.web.WebSocketResponse, raw: aiohttp.web.BaseRequest, session: Session,
                     proc: asyncio.subprocess.Process) -> None:
        command = session.command

        async def pump(stream: asyncio.StreamReader, channel: int) -> None:
            while chunk := await stream.read(FRAME_BYTES):
                if channel == STDOUT:
                    fault = self._fault(session.sent, len(chunk))
                    if fault is not None and fault.kind == "cut":
                        await ws.send_bytes(bytes([channel]) + chunk[:fault.after - session.sent])
                        session.sent = fault.after
                        raise ConnectionResetError("cut")
                    if fault is not None:
                        at = fault.after - session.sent
                        chunk = chunk[:at] + bytes([chunk[at] ^ 0xFF]) + chunk[at + 1:]
                    session.sent += len(chunk)
                await ws.send_bytes(bytes([channel]) + chunk)

        pumps = [asyncio.ensure_future(pump(proc.stdout, STDOUT)),  # type: ignore[arg-type]
                 asyncio.ensure_future(pump(proc.stderr, STDERR))]  # type: ignore[arg-type]
        try:
            await asyncio.gather(*pumps)
        except (ConnectionError, aiohttp.ClientError):
            for task in pumps:
                task.cancel()
            if raw.transport is not None:
                raw.transport.abort()  # a dropped connection: no Status, no close frame
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.communicate()  # drain the pipes, or the process is never reaped
            return
        code = await proc.wait()
        if code == 0:
            done = {"metadata": {}, "status": "Success"}
        else:
            done = status_failure(500, "NonZeroExitCode", f"command terminated with non-zero exit code: "
                                  f"error executing command {command}: exit status {code}")
            done["details"] = {"causes": [{"reason": "ExitCode", "message": str(code)}]}
        await ws.send_bytes(bytes([ERROR]) + json.dumps(done).encode())
        await ws.close()


def status_failure(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
