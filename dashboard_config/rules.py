"""TestGrid's config validation (config/config.go) and test-infra's config_test.go rules for
config/testgrids/, as listed in spec §5.3, plus fedtest's own rules for non-prow uploads."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from email.errors import HeaderParseError
from email.headerregistry import HeaderRegistry

from dashboard_config.config import Config, Entry
from dashboard_config.problems import Problem

EN_DASH = "\u2013"
NAME_CHARSET = re.compile(r'^[a-zA-Z0-9_.~<>()|\[\]",@/ ' + EN_DASH + r"-]+$")
RESERVED_PREFIXES = ("dashboard", "alerter", "summary", "bugs")
ALLOWED_PREFIXES = (
    "conformance", "minikube", "cluster-api", "kops", "presubmits", "sig", "wg", "provider",
    "kubernetes-clients", "amazon", "cos", "containerd", "istio", "google", "redhat", "ibm",
    "vmware", "gardener", "jetstack", "kubevirt", "lambda", "nvidia",
)  # fmt: skip
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
HEADER_KINDS = ("configuration_value", "property", "label")
KNOWN_KEYS = {
    "test_groups": {
        "name", "gcs_prefix", "result_source", "days_of_results", "num_columns_recent",
        "disable_prowjob_analysis", "column_header", "alert_stale_results_hours",
        "num_failures_to_alert", "num_passes_to_disable_alert", "test_name_config", "short_text_metric",
        "user_property", "disable_merged_status", "ignore_skip", "ignore_pending", "ignore_built",
        "notifications", "build_override_configuration_value", "code_search_path",
        "max_test_runtime_hours", "tests_name_policy", "is_external", "use_kubernetes_client",
        "alert_mail_to_addresses", "description",
    },
    "dashboards": {"name", "description", "dashboard_tab", "notifications", "highlight_today"},
    "dashboard_tab": {
        "name", "test_group_name", "description", "base_options", "alert_options", "num_columns_recent",
        "open_test_template", "results_url_template", "file_bug_template", "code_search_url_template",
        "code_search_path", "tabular_names_regex", "open_bug_template", "attach_bug_template",
        "results_text", "beta_autobug_options", "status_customization_options",
    },
    "alert_options": {
        "alert_mail_to_addresses", "num_failures_to_alert", "alert_stale_results_hours",
        "num_passes_to_disable_alert", "subject", "debug_url", "debug_message",
        "wait_minutes_between_emails", "alert_mail_failure_message",
    },
    "dashboard_groups": {"name", "dashboard_names", "description"},
}  # fmt: skip


def normalise(name: str) -> str:
    """TestGrid's normalisation: lower-case, only letters and digits."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def label(section: str, entry: Entry, index: int) -> str:
    return f"{section}[{entry.name or f'#{index}'}]"


def tab_label(dashboard: Entry, tab: dict, index: int) -> str:
    tab_name = tab.get("name") if isinstance(tab.get("name"), str) else f"#{index}"
    return f"dashboards[{dashboard.name}].dashboard_tab[{tab_name}]"


def tabs(dashboard: Entry) -> list[dict]:
    value = dashboard.data.get("dashboard_tab") or []
    return [tab for tab in value if isinstance(tab, dict)] if isinstance(value, list) else []


def name_problems(file: str, entry: str, name: object) -> Iterator[Problem]:
    if not isinstance(name, str) or not name:
        yield Problem(file, entry, "name-required", "every entry needs a non-empty name")
        return
    if not NAME_CHARSET.match(name):
        detail = f"'{name}' has characters outside letters, digits and _.~<>()|[]\",@/ {EN_DASH}-"
        yield Problem(file, entry, "name-charset", detail)
    normal = normalise(name)
    if not 3 <= len(normal) <= 2048:
        detail = f"'{name}' has {len(normal)} letters and digits, TestGrid needs 3 to 2048"
        yield Problem(file, entry, "name-length", detail)
    reserved = next((prefix for prefix in RESERVED_PREFIXES if normal.startswith(prefix)), None)
    if reserved:
        yield Problem(
            file, entry, "name-reserved-prefix", f"'{name}' starts with '{reserved}', reserved by TestGrid"
        )


def unknown_keys(file: str, entry: str, data: dict, kind: str) -> Iterator[Problem]:
    for key in sorted(set(data) - KNOWN_KEYS[kind]):
        detail = f"'{key}' is not a TestGrid {kind} field (Configurator's strict mode rejects it)"
        yield Problem(file, entry, "unknown-key", detail)


def gcs_prefix_problems(file: str, entry: str, prefix: object) -> Iterator[Problem]:
    if not isinstance(prefix, str) or not prefix:
        yield Problem(file, entry, "gcs-prefix-form", "gcs_prefix is required: bucket/path/to/job")
        return
    for part in prefix.split(","):
        segments = part.split("/")
        bad = (
            part.startswith("gs://")
            or len(segments) < 2
            or not BUCKET_NAME.match(segments[0])
            or any(not segment or segment != segment.strip() for segment in segments)
        )
        if bad:
            detail = f"'{part}' must be bucket/path/to/job: no gs://, no empty segment or spaces"
            yield Problem(file, entry, "gcs-prefix-form", detail)


def test_group_problems(file: str, entry: str, data: dict) -> Iterator[Problem]:
    yield from gcs_prefix_problems(file, entry, data.get("gcs_prefix"))
    for key in ("days_of_results", "num_columns_recent"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            yield Problem(file, entry, "positive-number", f"{key} is {value!r}, must be an integer > 0")
    if data.get("disable_prowjob_analysis") is not True:
        detail = "disable_prowjob_analysis must be true: these results are not uploaded by prow"
        yield Problem(file, entry, "disable-prowjob-analysis", detail)
    for index, header in enumerate(data.get("column_header") or []):
        kinds = [kind for kind in HEADER_KINDS if isinstance(header, dict) and header.get(kind)]
        if len(kinds) != 1:
            detail = f"column_header[{index}] must set exactly one of {', '.join(HEADER_KINDS)}"
            yield Problem(file, entry, "column-header", detail)
        elif kinds != ["configuration_value"]:
            detail = f"column_header[{index}] uses {kinds[0]}; test-infra only accepts configuration_value"
            yield Problem(file, entry, "column-header-configuration-value", detail)


def is_rfc5322_address(text: str) -> bool:
    """One mailbox (`name@domain` or `Name <name@domain>`) by the standard library's RFC 5322 parser."""
    try:
        header = HeaderRegistry()("To", text)
    except (HeaderParseError, IndexError, ValueError):
        return False
    mailboxes = header.addresses
    return not header.defects and len(mailboxes) == 1 and bool(mailboxes[0].username and mailboxes[0].domain)


def address_problems(file: str, entry: str, addresses: object) -> Iterator[Problem]:
    if not isinstance(addresses, str) or not addresses.strip():
        yield Problem(file, entry, "alert-address", "alert_mail_to_addresses is empty")
        return
    for address in addresses.split(","):
        address = address.strip()
        if address.count("@") != 1 or not is_rfc5322_address(address):
            detail = f"'{address}' is not one RFC 5322 address (name@domain); separate several with commas"
            yield Problem(file, entry, "alert-address", detail)


def tab_problems(file: str, entry: str, tab: dict) -> Iterator[Problem]:
    yield from unknown_keys(file, entry, tab, "dashboard_tab")
    if isinstance(tab.get("name"), str) and tab["name"].strip().lower() == "summary":
        yield Problem(file, entry, "tab-not-summary", "'Summary' is TestGrid's own tab")
    if not str(tab.get("description") or "").strip():
        detail = "say what the tab shows and who owns it (description: 'OWNER: ...')"
        yield Problem(file, entry, "tab-description", detail)
    alert = tab.get("alert_options")
    if not isinstance(alert, dict):
        yield Problem(file, entry, "tab-alert-options", "alert_options with alert_mail_to_addresses required")
        return
    yield from unknown_keys(file, entry, alert, "alert_options")
    yield from address_problems(file, entry, alert.get("alert_mail_to_addresses"))


def has_allowed_prefix(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + "-") for prefix in ALLOWED_PREFIXES)


def check(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    first = config.files[0] if config.files else "dashboard_config"
    for section in ("test_groups", "dashboards"):
        if not getattr(config, section):
            problems.append(
                Problem(first, section, "config-not-empty", f"TestGrid needs at least one of {section}")
            )

    seen_groups: dict[str, str] = {}
    for index, entry in enumerate(config.test_groups):
        where = label("test_groups", entry, index)
        problems += name_problems(entry.file, where, entry.data.get("name"))
        problems += unknown_keys(entry.file, where, entry.data, "test_groups")
        problems += test_group_problems(entry.file, where, entry.data)
        normal = normalise(entry.name)
        if entry.name and normal in seen_groups:
            detail = f"'{entry.name}' is the same name as '{seen_groups[normal]}' once normalised"
            problems.append(Problem(entry.file, where, "unique-test-group", detail))
        seen_groups.setdefault(normal, entry.name)

    group_names = {entry.name for entry in config.test_groups}
    used_groups: set[str] = set()
    seen_dashboards: dict[str, str] = {}
    for index, dashboard in enumerate(config.dashboards + config.dashboard_groups):
        section = "dashboards" if index < len(config.dashboards) else "dashboard_groups"
        where = label(section, dashboard, index)
        problems += name_problems(dashboard.file, where, dashboard.data.get("name"))
        problems += unknown_keys(dashboard.file, where, dashboard.data, section)
        if dashboard.name and not has_allowed_prefix(dashboard.name):
            prefixes = ", ".join(ALLOWED_PREFIXES)
            detail = f"'{dashboard.name}' must start with one of test-infra's prefixes ({prefixes})"
            problems.append(Problem(dashboard.file, where, "dashboard-name-prefix", detail))
        normal = normalise(dashboard.name)
        if dashboard.name and normal in seen_dashboards:
            other = seen_dashboards[normal]
            detail = f"'{dashboard.name}' clashes with '{other}' (dashboards and groups share names)"
            problems.append(Problem(dashboard.file, where, "unique-dashboard-name", detail))
        seen_dashboards.setdefault(normal, dashboard.name)

    for dashboard_index, dashboard in enumerate(config.dashboards):
        if not tabs(dashboard):
            where = label("dashboards", dashboard, dashboard_index)
            problems.append(
                Problem(dashboard.file, where, "dashboard-has-tabs", "a dashboard needs at least one tab")
            )
        seen_tabs: dict[str, str] = {}
        tab_groups: dict[str, str] = {}
        for index, tab in enumerate(tabs(dashboard)):
            where = tab_label(dashboard, tab, index)
            problems += name_problems(dashboard.file, where, tab.get("name"))
            problems += tab_problems(dashboard.file, where, tab)
            tab_name = str(tab.get("name") or "")
            if tab_name and normalise(tab_name) in seen_tabs:
                detail = f"'{tab_name}' repeats tab '{seen_tabs[normalise(tab_name)]}' of this dashboard"
                problems.append(Problem(dashboard.file, where, "unique-tab", detail))
            seen_tabs.setdefault(normalise(tab_name), tab_name)
            group = tab.get("test_group_name")
            if not isinstance(group, str) or group not in group_names:
                detail = f"test_group_name '{group or ''}' names no test group"
                problems.append(Problem(dashboard.file, where, "tab-test-group-exists", detail))
                continue
            used_groups.add(group)
            if group in tab_groups:
                detail = f"tab '{tab_groups[group]}' already shows test group '{group}'"
                problems.append(Problem(dashboard.file, where, "tab-one-per-test-group", detail))
            tab_groups.setdefault(group, tab_name)

    for index, entry in enumerate(config.test_groups):
        if entry.name and entry.name not in used_groups:
            detail = f"no dashboard tab shows test group '{entry.name}'"
            problems.append(
                Problem(entry.file, label("test_groups", entry, index), "test-group-used", detail)
            )

    problems += group_membership(config)
    return problems


def group_membership(config: Config) -> list[Problem]:
    problems = []
    dashboards = {entry.name for entry in config.dashboards}
    member_of: dict[str, list[str]] = defaultdict(list)
    for index, group in enumerate(config.dashboard_groups):
        where = label("dashboard_groups", group, index)
        names = group.data.get("dashboard_names") or []
        for name in names if isinstance(names, list) else []:
            member_of[name].append(group.name)
            if name not in dashboards:
                detail = f"lists dashboard '{name}', which does not exist"
                problems.append(Problem(group.file, where, "group-member-exists", detail))
            elif not name.startswith(group.name + "-"):
                detail = f"lists dashboard '{name}', which does not start with '{group.name}-'"
                problems.append(Problem(group.file, where, "group-member-prefix", detail))
    groups = {entry.name for entry in config.dashboard_groups}
    for index, dashboard in enumerate(config.dashboards):
        where = label("dashboards", dashboard, index)
        if len(member_of[dashboard.name]) > 1:
            detail = f"listed in several dashboard groups: {', '.join(member_of[dashboard.name])}"
            problems.append(Problem(dashboard.file, where, "dashboard-one-group", detail))
        owner = next((g for g in sorted(groups) if dashboard.name.startswith(g + "-")), None)
        if owner and owner not in member_of[dashboard.name]:
            detail = f"named '{owner}-...' but not listed in dashboard group '{owner}'"
            problems.append(Problem(dashboard.file, where, "group-membership", detail))
    return problems
