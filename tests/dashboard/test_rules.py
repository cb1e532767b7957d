"""Each TestGrid / test-infra rule, broken on purpose in a copy of the shipped config: exactly the
expected lines come out, naming the file, the entry and the rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboard_config import config as testgrid_config
from dashboard_config import rules

SHIPPED = Path(__file__).resolve().parents[2] / "dashboard_config" / "fedtest.yaml"
Config = dict[str, Any]


@pytest.fixture(scope="module")
def shipped() -> Config:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def check(tmp_path: Path, document: Config) -> tuple[str, list[str]]:
    path = tmp_path / "testgrid.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return str(path), sorted(map(str, rules.check(testgrid_config.load(tmp_path))))


def group(doc: Config, index: int = 0) -> dict[str, Any]:
    return doc["test_groups"][index]


def tab(doc: Config, index: int = 0) -> dict[str, Any]:
    return doc["dashboards"][0]["dashboard_tab"][index]


def add_tab(doc: Config, name: str, test_group: str) -> None:
    extra = copy.deepcopy(tab(doc))
    extra.update(name=name, test_group_name=test_group)
    doc["dashboards"][0]["dashboard_tab"].append(extra)


def duplicate_group(doc: Config) -> None:
    doc["test_groups"].append(dict(group(doc), name="E2E_Kind_Nightly"))
    add_tab(doc, "kind nightly again", "E2E_Kind_Nightly")


def add_group(doc: Config, name: str, *dashboards: str) -> None:
    doc["dashboard_groups"].append({"name": name, "dashboard_names": list(dashboards)})


def alert_to(doc: Config, addresses: str) -> None:
    tab(doc)["alert_options"]["alert_mail_to_addresses"] = addresses


def empty_dashboard(doc: Config) -> None:
    doc["dashboards"].append({"name": "sig-testing-fedtest", "dashboard_tab": []})


D = "dashboards[provider-fedtest-nightly]"
C = "dashboards[provider-fedtest-conformance]"
X = "dashboards[provider-fedtest-disruption]"
T = f"{D}.dashboard_tab[kind nightly]"
G = "test_groups[e2e-kind-nightly]"
CASES: dict[str, tuple[Callable[[Config], Any], list[str]]] = {
    "name-charset": (
        lambda doc: tab(doc).update(name="kind nightly!"),
        [f"{D}.dashboard_tab[kind nightly!]: name-charset: 'kind nightly!' has characters outside letters, "
         "digits and _.~<>()|[]\",@/ \u2013-"],
    ),
    "name-length": (
        lambda doc: tab(doc).update(name="k8"),
        [f"{D}.dashboard_tab[k8]: name-length: 'k8' has 2 letters and digits, TestGrid needs 3 to 2048"],
    ),
    "name-reserved-prefix": (
        lambda doc: tab(doc).update(name="Bugs in kind"),
        [f"{D}.dashboard_tab[Bugs in kind]: name-reserved-prefix: 'Bugs in kind' starts with 'bugs', "
         "reserved by TestGrid"],
    ),
    "name-required": (
        lambda doc: tab(doc).pop("name"),
        [f"{D}.dashboard_tab[#0]: name-required: every entry needs a non-empty name"],
    ),
    "unique-test-group": (
        duplicate_group,
        ["test_groups[E2E_Kind_Nightly]: unique-test-group: 'E2E_Kind_Nightly' is the same name as "
         "'e2e-kind-nightly' once normalised"],
    ),
    "unique-dashboard-name": (
        lambda doc: add_group(doc, "provider-fedtest_nightly"),
        ["dashboard_groups[provider-fedtest_nightly]: unique-dashboard-name: 'provider-fedtest_nightly' "
         "clashes with 'provider-fedtest-nightly' (dashboards and groups share names)"],
    ),
    "unique-tab": (
        lambda doc: tab(doc, 1).update(name="Kind Nightly"),
        [f"{D}.dashboard_tab[Kind Nightly]: unique-tab: 'Kind Nightly' repeats tab 'kind nightly' of this "
         "dashboard"],
    ),
    "tab-test-group-exists": (
        lambda doc: add_tab(doc, "eks nightly", "e2e-eks-nightly"),
        [f"{D}.dashboard_tab[eks nightly]: tab-test-group-exists: test_group_name 'e2e-eks-nightly' names "
         "no test group"],
    ),
    "test-group-used": (
        lambda doc: doc["test_groups"].append(dict(group(doc), name="e2e-eks-nightly")),
        ["test_groups[e2e-eks-nightly]: test-group-used: no dashboard tab shows test group "
         "'e2e-eks-nightly'"],
    ),
    "tab-one-per-test-group": (
        lambda doc: add_tab(doc, "kind again", "e2e-kind-nightly"),
        [f"{D}.dashboard_tab[kind again]: tab-one-per-test-group: tab 'kind nightly' already shows test "
         "group 'e2e-kind-nightly'"],
    ),
    "tab-not-summary": (
        lambda doc: tab(doc).update(name="Summary"),
        [f"{D}.dashboard_tab[Summary]: name-reserved-prefix: 'Summary' starts with 'summary', reserved by "
         "TestGrid",
         f"{D}.dashboard_tab[Summary]: tab-not-summary: 'Summary' is TestGrid's own tab"],
    ),
    "dashboard-has-tabs": (
        empty_dashboard,
        ["dashboards[sig-testing-fedtest]: dashboard-has-tabs: a dashboard needs at least one tab"],
    ),
    "config-not-empty": (
        lambda doc: doc.update(test_groups=[], dashboards=[], dashboard_groups=[]),
        ["dashboards: config-not-empty: TestGrid needs at least one of dashboards",
         "test_groups: config-not-empty: TestGrid needs at least one of test_groups"],
    ),
    "gcs-prefix-form": (
        lambda doc: group(doc).update(gcs_prefix="gs://fedtest-results/logs/e2e-kind-nightly"),
        [f"{G}: gcs-prefix-form: 'gs://fedtest-results/logs/e2e-kind-nightly' must be bucket/path/to/job: "
         "no gs://, no empty segment or spaces"],
    ),
    "gcs-prefix-required": (
        lambda doc: group(doc).pop("gcs_prefix"),
        [f"{G}: gcs-prefix-form: gcs_prefix is required: bucket/path/to/job"],
    ),
    "positive-number": (
        lambda doc: group(doc).update(days_of_results=0),
        [f"{G}: positive-number: days_of_results is 0, must be an integer > 0"],
    ),
    "disable-prowjob-analysis": (
        lambda doc: group(doc).update(disable_prowjob_analysis=False),
        [f"{G}: disable-prowjob-analysis: disable_prowjob_analysis must be true: these results are not "
         "uploaded by prow"],
    ),
    "column-header": (
        lambda doc: group(doc)["column_header"].append({"configuration_value": "node", "label": "node"}),
        [f"{G}: column-header: column_header[3] must set exactly one of configuration_value, property, "
         "label"],
    ),
    "column-header-configuration-value": (
        lambda doc: group(doc)["column_header"].append({"property": "node"}),
        [f"{G}: column-header-configuration-value: column_header[3] uses property; test-infra only accepts "
         "configuration_value"],
    ),
    "unknown-key": (
        lambda doc: group(doc).update(gcs_prefx="x"),
        [f"{G}: unknown-key: 'gcs_prefx' is not a TestGrid test_groups field (Configurator's strict mode "
         "rejects it)"],
    ),
    "dashboard-name-prefix": (
        lambda doc: add_group(doc, "acme"),
        ["dashboard_groups[acme]: dashboard-name-prefix: 'acme' must start with one of test-infra's prefixes "
         f"({', '.join(rules.ALLOWED_PREFIXES)})"],
    ),
    "group-member-exists": (
        lambda doc: doc["dashboard_groups"][0]["dashboard_names"].append("provider-fedtest-weekly"),
        ["dashboard_groups[provider-fedtest]: group-member-exists: lists dashboard "
         "'provider-fedtest-weekly', which does not exist"],
    ),
    "group-member-prefix": (
        lambda doc: doc["dashboard_groups"][0].update(name="provider-fed"),
        [f"dashboard_groups[provider-fed]: group-member-prefix: lists dashboard 'provider-fedtest-{name}', "
         "which does not start with 'provider-fed-'" for name in ("nightly", "conformance", "disruption")],
    ),
    "dashboard-one-group": (
        lambda doc: add_group(doc, "provider", "provider-fedtest-nightly"),
        [f"{D}: dashboard-one-group: listed in several dashboard groups: provider-fedtest, provider",
         *(f"{d}: group-membership: named 'provider-...' but not listed in dashboard group 'provider'"
           for d in (C, X))],
    ),
    "group-membership": (
        lambda doc: doc["dashboard_groups"][0].update(dashboard_names=[]),
        [f"{dashboard}: group-membership: named 'provider-fedtest-...' but not listed in dashboard group "
         "'provider-fedtest'" for dashboard in (D, C, X)],
    ),
    "alert-address": (
        lambda doc: alert_to(doc, "ci@fedtest.example, ci at fedtest"),
        [f"{T}: alert-address: 'ci at fedtest' is not one RFC 5322 address (name@domain); separate several "
         "with commas"],
    ),
    "alert-address-two-ats": (
        lambda doc: alert_to(doc, "ci@fedtest@example"),
        [f"{T}: alert-address: 'ci@fedtest@example' is not one RFC 5322 address (name@domain); separate "
         "several with commas"],
    ),
    "tab-description": (
        lambda doc: tab(doc).pop("description"),
        [f"{T}: tab-description: say what the tab shows and who owns it (description: 'OWNER: ...')"],
    ),
    "tab-alert-options": (
        lambda doc: tab(doc).pop("alert_options"),
        [f"{T}: tab-alert-options: alert_options with alert_mail_to_addresses required"],
    ),
}  # fmt: skip


def test_shipped_config_follows_every_rule(shipped: Config, tmp_path: Path) -> None:
    assert check(tmp_path, shipped)[1] == []


def test_several_valid_alert_addresses_pass(shipped: Config, tmp_path: Path) -> None:
    doc = copy.deepcopy(shipped)
    tab(doc)["alert_options"]["alert_mail_to_addresses"] = (
        "ci@fedtest.example, Oncall <oncall@fedtest.example>"
    )
    assert check(tmp_path, doc)[1] == []


@pytest.mark.parametrize("rule", sorted(CASES))
def test_broken_rule_gives_its_line(shipped: Config, tmp_path: Path, rule: str) -> None:
    breaks, expected = CASES[rule]
    doc = copy.deepcopy(shipped)
    breaks(doc)
    file, lines = check(tmp_path, doc)
    assert lines == sorted(f"{file}: {line}" for line in expected)
