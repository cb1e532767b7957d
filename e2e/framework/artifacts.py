"""Runner-pod artifacts, copied out of the collector container the way `kubectl cp` does: exec'd
commands whose stdout streams back over the exec websocket (kubernetes.stream.stream).

Once the steps have ended, the collector snapshots the artifacts folder into one tar file in the pod
and reports its size and sha256 there. The harness then reads the tar in pieces of PIECE_BYTES
(`tail -c +OFFSET | head -c COUNT`: a cut connection costs one piece, and a retry resumes where the
bytes stopped, like `kubectl cp --retries`), and accepts the archive only when the byte count and the
digest of what arrived match the pod's. A failed piece or a digest mismatch spends one retry; when
the retries are spent the copy ends with one line saying what went wrong. Nothing passes through
the pod log, so its rotation (10 MiB by default) bounds nothing here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import websocket
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL

from e2e.framework import waits
from e2e.framework.jobspec import COLLECTOR

PIECE_BYTES = 4 * 1024 * 1024  # one exec session's share; the client's buffering grows with its square
RETRIES = 3
SNAPSHOT = r"""set -eu
cd "$HANDOFF"
if [ ! -e artifacts.sum ]; then
  tar -C "$ARTIFACTS" -cf artifacts.tar.part .
  mv artifacts.tar.part artifacts.tar
  set -- $(wc -c < artifacts.tar) $(sha256sum artifacts.tar)
  echo "$1 $2" > artifacts.sum
fi
cat artifacts.sum
"""
PIECE = 'tail -c "+$1" "$HANDOFF/artifacts.tar" | head -c "$2"'
RELEASE = 'touch "$HANDOFF/collected"'  # the collector sees it within a second and exits 0 (jobspec.py)


@dataclass(frozen=True)
class Exec:
    """What one exec session gave: stdout, stderr, and the exit code (None: no status came back)."""

    stdout: bytes
    stderr: str
    exit_code: int | None

    def why(self) -> str:
        said = self.stderr.strip().splitlines()[-1:] or [""]
        if self.exit_code is None:
            return f"the connection ended without an exit status {said[0]}".strip()
        return f"exit code {self.exit_code} {said[0]}".strip()


@dataclass
class Collected:
    """The artifacts archive (a tar) when it arrived whole, else a one-line problem."""

    archive: bytes | None
    problem: str = ""
    transfers: int = 0  # exec sessions that carried archive bytes, retries included
    retries: int = 0


def run(core: client.CoreV1Api, namespace: str, pod: str, script: str, args: list[str],
        deadline: waits.Deadline) -> Exec:
    """`sh -c script sh args...` in the collector; the connection's failure is an Exec without status.
    stream() swaps the client's transport while it connects, so it gets a client of its own: requests
    of other threads on the launcher's client stay plain HTTP."""
    with client.ApiClient(core.api_client.configuration) as own:
        try:
            ws = stream(client.CoreV1Api(own).connect_get_namespaced_pod_exec, pod, namespace, container=COLLECTOR,
                        command=["sh", "-c", script, "sh", *args], stdin=False, stdout=True, stderr=True,
                        tty=False, _preload_content=False, binary=True)
        except ApiException as err:
            return Exec(b"", refusal(str(err.reason or err)), None)
    out, err = bytearray(), bytearray()
    try:
        while ws.is_open() and not deadline.expired():
            ws.update(timeout=min(1.0, max(deadline.remaining(), 0.01)))
            out += ws.read_channel(STDOUT_CHANNEL)
            err += ws.read_channel(STDERR_CHANNEL)
        out += ws.read_channel(STDOUT_CHANNEL)
        err += ws.read_channel(STDERR_CHANNEL)
        status = ws.read_channel(ERROR_CHANNEL)
    except (websocket.WebSocketException, OSError):
        status = b""
    finally:
        ws.close()
    return Exec(bytes(out), err.decode("utf-8", "replace"), exit_code(status))


def refusal(reason: str) -> str:
    """The API server's words from a refused upgrade (websocket-client puts status, headers and body in
    one string, separated by -+-+-); the first line of anything else."""
    body = reason.rsplit("-+-+-", 1)[-1].strip()
    try:
        return f"{reason.split(' -+-+-', 1)[0]}: {json.loads(body)['message']}"
    except (ValueError, KeyError, TypeError):
        return reason.strip().splitlines()[0] if reason.strip() else "refused"


def exit_code(status: bytes) -> int | None:
    """The exit code in the v1 Status that closes an exec session (channel 3); None when there is none."""
    try:
        shape = json.loads(status)
    except ValueError:
        return None
    if shape.get("status") == "Success":
        return 0
    for cause in (shape.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", "1"))
    return None


def collect(core: client.CoreV1Api, namespace: str, pod: str, deadline: waits.Deadline,
            retries: int = RETRIES, piece: int = PIECE_BYTES) -> Collected:
    """Copy the collector's artifacts out, verified by byte count and sha256 computed in the pod."""
    result = Collected(None)

    def spend(problem: str) -> bool:
        result.retries += 1
        if result.retries > retries:
            result.problem = f"artifacts of pod {pod} not copied after {retries} retries: {problem}"
        return result.retries <= retries

    while True:
        snapshot = run(core, namespace, pod, SNAPSHOT, [], deadline)
        fields = snapshot.stdout.split()
        if snapshot.exit_code == 0 and len(fields) == 2 and fields[0].isdigit():
            size, digest = int(fields[0]), fields[1].decode()
            break
        if not spend(f"the snapshot in the pod failed ({snapshot.why()})"):
            return result
    data = bytearray()
    while True:
        if deadline.expired():
            result.problem = f"artifacts of pod {pod} not copied: {len(data)} of {size} bytes when time ran out"
            return result
        if len(data) < size:
            count = min(piece, size - len(data))
            part = run(core, namespace, pod, PIECE, [str(len(data) + 1), str(count)], deadline)
            result.transfers += 1
            offset = len(data)
            data += part.stdout[:count]
            whole = part.exit_code == 0 and len(part.stdout) == count
            if not whole and not spend(f"the piece at byte {offset} brought {len(part.stdout)} of {count} "
                                       f"bytes ({part.why()})"):
                return result
            continue
        got = hashlib.sha256(data).hexdigest()
        if got == digest:
            result.archive = bytes(data)
            return result
        if not spend(f"sha256 {got[:16]} of the {size} bytes received, {digest[:16]} in the pod"):
            return result
        data.clear()


def release(core: client.CoreV1Api, namespace: str, pod: str, deadline: waits.Deadline) -> str:
    """Let the collector exit (0); '' when it was told, else why not."""
    done = run(core, namespace, pod, RELEASE, [], deadline)
    return "" if done.exit_code == 0 else f"the collector of pod {pod} was not released ({done.why()})"
