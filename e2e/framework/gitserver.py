"""A git server in the cluster: a pod that builds a repository from the commits a test gives, prints their
ids, and serves it over git's HTTP protocol.

The git image (alpine/git) has no `git daemon` and no `git http-backend` (Alpine ships both in its
git-daemon package), so the repository is served the way git's "dumb" HTTP protocol allows: an init
container of the git image makes it and runs `git update-server-info`, and busybox `httpd` (the job
image) serves the files. Both images come through --image-registry like every other. The dumb
protocol fetches any commit by id but cannot make shallow clones: the checkout falls back to a full
fetch for such servers.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders, waits

NAME = "git-server"
PORT = 8080
LISTEN: str | None = None  # an address to listen on; None: all of the pod's
SEED, SRV = "/seed", "/srv"

BUILD_SCRIPT = r"""set -eu
export HOME="$SRV/home" GIT_AUTHOR_NAME=fedtest GIT_AUTHOR_EMAIL=fedtest@example.test
export GIT_COMMITTER_NAME=fedtest GIT_COMMITTER_EMAIL=fedtest@example.test
mkdir -p "$HOME" "$SRV/git"
git init -q "$SRV/work"
cd "$SRV/work"
: > "$SRV/commits"
i=0
while ls "$SEED"/c$i.* >/dev/null 2>&1; do
  for f in "$SEED"/c$i.*; do cat "$f" > "./${f#"$SEED/c$i."}"; done
  git add -A
  git commit -q -m "commit $i"
  echo "::commit $i $(git rev-parse HEAD)" >> "$SRV/commits"
  i=$((i+1))
done
git clone -q --bare "$SRV/work" "$SRV/git/repo.git"
git -C "$SRV/git/repo.git" update-server-info
"""

SERVE_SCRIPT = r"""cat "$SRV/commits"
echo "::serving"
exec httpd -f -p "${LISTEN:+$LISTEN:}$PORT" -h "$SRV/git"
"""


@dataclass(frozen=True)
class GitServer:
    url: str
    commits: list[str]  # ids, oldest first


def service_url(namespace: str) -> str:
    return f"http://{NAME}.{namespace}.svc/repo.git"


def server_pod(images: builders.Images) -> builders.Manifest:
    env = {"SEED": SEED, "SRV": SRV, "PORT": str(PORT)}
    if LISTEN:
        env["LISTEN"] = LISTEN
    build = builders.container("build", images.git, ["sh", "-c", BUILD_SCRIPT], pull_policy=images.pull_policy,
                               env=env, mounts={"seed": SEED, "srv": SRV})
    serve = builders.container("serve", images.busybox, ["sh", "-c", SERVE_SCRIPT], pull_policy=images.pull_policy,
                               env=env, mounts={"srv": SRV}, port=PORT)
    serve["readinessProbe"] = {"httpGet": {"path": "/repo.git/info/refs", "port": PORT}, "periodSeconds": 2}
    spec = builders.pod_spec([serve], init_containers=[build],
                             volumes=[{"name": "seed", "configMap": {"name": NAME}}, {"name": "srv", "emptyDir": {}}])
    return builders.pod(NAME, spec, labels={"app": NAME})


def seed(commits: Sequence[dict[str, str]]) -> dict[str, str]:
    """ConfigMap data: c<i>.<file> for each file commit i writes (flat file names)."""
    data = {}
    for i, files in enumerate(commits):
        for path, text in files.items():
            if not re.fullmatch(r"[-._a-zA-Z0-9]+", path):
                raise ValueError(f"file {path!r} of commit {i}: use a flat name of letters, digits, '-', '.', '_'")
            data[f"c{i}.{path}"] = text
    return data


@contextlib.contextmanager
def serving(api: client.ApiClient, namespace: str, images: builders.Images, commits: Sequence[dict[str, str]],
            timeout: float) -> Iterator[GitServer]:
    """The server up and ready with the commits made; the pod, Service and ConfigMap go afterwards."""
    core = client.CoreV1Api(api)
    builders.create(api, namespace, builders.config_map(NAME, seed(commits)))
    builders.create(api, namespace, builders.service(NAME, {"app": NAME}, target_port=PORT))
    builders.create(api, namespace, server_pod(images))
    try:
        deadline = waits.Deadline(timeout)
        ids = _commit_ids(core, namespace, len(commits), deadline)
        _ready(core, namespace, deadline)
        yield GitServer(service_url(namespace), ids)
    finally:
        for delete in (core.delete_namespaced_pod, core.delete_namespaced_service, core.delete_namespaced_config_map):
            with contextlib.suppress(ApiException):
                delete(NAME, namespace)


def _commit_ids(core: client.CoreV1Api, namespace: str, count: int, deadline: waits.Deadline) -> list[str]:
    """The ids the server printed, read from its log as soon as it is running."""
    waits.pod_phase(core.api_client, namespace, NAME, ["Running"], deadline)
    resp = core.read_namespaced_pod_log(NAME, namespace, follow=True, _preload_content=False,
                                        _request_timeout=(10, max(deadline.remaining(), 1)))
    ids: dict[int, str] = {}
    text = ""
    try:
        for chunk in resp.stream(1024):
            text += chunk.decode("utf-8", "replace")
            ids = {int(i): sha for i, sha in re.findall(r"^::commit (\d+) ([0-9a-f]{40})$", text, re.MULTILINE)}
            if "::serving" in text:
                break
    except urllib3.exceptions.HTTPError as err:
        raise waits.WaitTimeout(f"git server {namespace}/{NAME} to print its commits", deadline.seconds,
                                text[-500:], [str(err)]) from err
    finally:
        resp.close()  # the server keeps the log open: close, do not hand the connection back half-read
        resp.release_conn()
    if len(ids) != count:
        raise AssertionError(f"git server {namespace}/{NAME} made {len(ids)} of {count} commits:\n{text[-2000:]}")
    return [ids[i] for i in range(count)]


def _ready(core: client.CoreV1Api, namespace: str, deadline: waits.Deadline) -> None:
    """Its container passes the readiness probe: git daemon listens."""

    def ready(objects: dict[str, Any]) -> bool | None:
        pod = objects.get(NAME)
        statuses = pod.status.container_statuses if pod is not None and pod.status else None
        return True if statuses and all(cs.ready for cs in statuses) else None

    waits.watch_until(waits.Target(core.list_namespaced_pod, namespace, "Pod", name=NAME), ready,
                      what=f"git server {namespace}/{NAME} ready", timeout=deadline, events_api=core)
