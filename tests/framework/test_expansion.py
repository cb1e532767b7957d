"""Kubernetes expands `$(VAR)` and turns `$$` into `$` in a container's command, args and env values:
the fake kubelet does as the kubelet does, and what the suite builds reaches the process as written."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client

from e2e.framework import builders, waits
from tests.framework.conftest import NAMESPACE, Clusters
from tests.standins.kubelet import container_env, expand

# Cases of k8s.io/kubernetes third_party/forked/golang/expansion/expand_test.go (mapping: VAR_A=A, VAR_B=B,
# VAR_C=C, VAR_REF=$(VAR_A), VAR_EMPTY="").
GO_MAPPING = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}
GO_CASES = [
    ("$(VAR_A)", "A"), ("___$(VAR_B)___", "___B___"), ("$(VAR_A)-$(VAR_A)", "A-A"), ("$(VAR_REF)", "$(VAR_A)"),
    ("$(VAR_EMPTY)", ""), ("$(VAR_DNE)", "$(VAR_DNE)"), ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("$$(VAR_A)", "$(VAR_A)"), ("$$$$(VAR_A)", "$$(VAR_A)"), ("$$$(VAR_A)", "$A"), ("$(VAR_A", "$(VAR_A"),
    ("$VAR_A", "$VAR_A"), ("f00__(VAR_A)__", "f00__(VAR_A)__"), ("$(VAR_A)$$", "A$"), ("$", "$"),
    ("$$", "$"), ("echo $$ > pid", "echo $ > pid"), ("i=$((i+1))", "i=$((i+1))"), ("$()", "$()"),
    ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"), ("$(VAR_A)$$(VAR_B)", "A$(VAR_B)"), ("$(", "$("), ("$(VAR_A$$", "$(VAR_A$"),
]


def test_expansion_matches_the_kubelets() -> None:
    assert [(text, expand(text, GO_MAPPING)) for text, _ in GO_CASES] == GO_CASES


@given(st.text(alphabet="$()AB_ x", max_size=40), st.dictionaries(st.sampled_from(["A", "B", "A_B", ""]),
                                                                 st.text(alphabet="$()ab", max_size=6)))
def test_what_the_builders_write_expands_to_itself(text: str, env: dict[str, str]) -> None:
    built = builders.container("c", "img", ["sh", "-c", text], args=[text], env={"V": text}, pull_policy="Never")
    assert [expand(word, env) for word in built["command"] + built["args"]] == ["sh", "-c", text, text]
    assert container_env({"env": [*({"name": k, "value": v} for k, v in env.items()), *built["env"]]})["V"] == text


def test_env_values_see_the_variables_defined_before_them() -> None:
    env = container_env({"env": [{"name": "A", "value": "a"}, {"name": "B", "value": "$(A)-$(C)"},
                                 {"name": "C", "value": "c"}, {"name": "D", "value": "$(C)", "valueFrom": {}}]})
    assert env == {"A": "a", "B": "a-$(C)", "C": "c", "D": "$(C)"}


def test_a_container_prints_exactly_the_script_it_was_given(clusters: Clusters, east: client.ApiClient,
                                                            tmp_path: Path) -> None:
    script = "printf '%s|' '$$' '$(HOME)' \"$WORD\"; echo $(( 1 + 1 ))"
    pod = builders.pod("verbatim", builders.pod_spec([builders.container(
        "main", "busybox", ["sh", "-c", script], env={"HOME": "/home", "WORD": "$(HOME)$$"},
        pull_policy="IfNotPresent")]))
    with clusters.kubelet("east"):
        builders.create(east, NAMESPACE, pod)
        waits.pod_phase(east, NAMESPACE, "verbatim", ["Succeeded"], 30)
        log = client.CoreV1Api(east).read_namespaced_pod_log("verbatim", NAMESPACE, _preload_content=False)
    assert log.data.decode().strip() == "$$|$(HOME)|$(HOME)$$|2"
