"""NetworkPolicy for runner pods: nothing in, nothing out but DNS; and a reach probe run as a runner job.

Whether a cluster enforces NetworkPolicy at all depends on its network plugin, so the suite first
proves enforcement with a policy of its own (deny all ingress to a probe server) and skips, saying
so, when the probe server stays reachable.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes import client

from e2e.framework import builders
from e2e.framework.jobspec import JOB_LABEL, JobDescription, Step

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
TRIES = 10  # a new policy takes the network plugin a few seconds to program
REACH_MARK = "::reach "

# One verdict per target: reached (any answer), blocked (dropped, refused, timed out), no-dns.
# Each target is tried until its expected verdict comes or TRIES run out (policies apply late).
# Steps run under `sh -e`: a failed wget is a verdict, never the end of the step (`|| rc=$?`).
REACH_SCRIPT = r"""reach() {
  i=0
  while :; do
    rc=0
    out=$(timeout "${REACH_TIMEOUT:-6}" wget -T 4 -q -O - "$2" 2>&1) || rc=$?
    case "$out" in
      *"bad address"*) v=no-dns ;;
      *"timed out"*|*"refused"*|*"unreachable"*) v=blocked ;;
      *) if [ "$rc" -ge 124 ] && [ -z "$out" ]; then v=blocked; else v=reached; fi ;;
    esac
    i=$((i+1))
    if [ "$v" = "$3" ] || [ "$i" -ge "${TRIES:-10}" ]; then echo "::reach $1 $v"; return 0; fi
    sleep "${REACH_PAUSE:-2}"
  done
}
"""


def runner_default_deny(name: str = "runner-default-deny") -> builders.Manifest:
    """Runner pods receive nothing and send nothing but DNS (port 53, to any resolver)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": builders.meta(name),
            "spec": {"podSelector": {"matchExpressions": [{"key": JOB_LABEL, "operator": "Exists"}]},
                     "policyTypes": ["Ingress", "Egress"], "egress": [{"ports": DNS_PORTS}]}}


def deny_ingress(name: str, selector: dict[str, str]) -> builders.Manifest:
    """The simplest policy there is: the selected pods accept no connection."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": builders.meta(name),
            "spec": {"podSelector": {"matchLabels": dict(selector)}, "policyTypes": ["Ingress"]}}


def api_service_url(api: client.ApiClient) -> str:
    """http://CLUSTER-IP:PORT of the API server's Service (default/kubernetes): any answer means reached."""
    svc = client.CoreV1Api(api).read_namespaced_service("kubernetes", "default")
    ip = svc.spec.cluster_ip
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{svc.spec.ports[0].port}/"


def reach_job(name: str, targets: dict[str, tuple[str, str]]) -> JobDescription:
    """A runner job that reports one verdict per target; targets maps name -> (url, expected verdict)."""
    calls = "\n".join(f"reach {target} '{url}' {expected}" for target, (url, expected) in targets.items())
    return JobDescription(name, "https://example.test/fedtest/reach.git", [Step("reach", REACH_SCRIPT + calls)],
                          source_files={"README.md": "reach probe\n"}, env={"TRIES": str(TRIES)})


def verdicts(log: str) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r"^::reach (\S+) (\S+)$", log, re.MULTILINE))


def not_enforced_reason(cluster: Any, seen: str) -> str:
    return (f"cluster {getattr(cluster, 'name', cluster)} does not enforce NetworkPolicy: a pod behind a "
            f"deny-all-ingress policy was still {seen} after {TRIES} tries (its network plugin has no policy "
            "support; use one that has, e.g. Calico or Cilium, or kindnet with network policies)")
