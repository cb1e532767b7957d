"""Typed provider settings: one parser, one-line errors, help and the README table from the declarations."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import options, registry
from providers.base import ConfigError, ProviderOptions
from providers.gce import GCEProvider
from providers.settings import help_rows, parse, require, setting, to_pairs
from tests.conftest import ROOT


@dataclasses.dataclass(frozen=True)
class Toy:
    name: str = setting("", "A name.", env=("TOY_NAME",), needed="up", missing="no toy name given", example="x")
    count: int = setting(2, "How many.", bounds=(0, 9))
    ratio: float = setting(0.5, "A ratio.", bounds=(0, None))
    loud: bool = setting(False, "Shout.")
    places: tuple[str, ...] = setting(("a",), "Where.", check=lambda v: v if "nowhere" not in v else _refuse(),
                                      what="a list of places", example="a,b")
    token: str = setting("", "A secret.", secret=True)


def _refuse() -> tuple[str, ...]:
    raise ValueError("nowhere is not a place")


def _error(values: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as err:
        parse(Toy, values, "toy", environ={})
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(("values", "expected"), [
    ({"cuont": "1"}, "toy does not know --provider-opt cuont (unknown toy option 'cuont'): did you mean count? "
                     "use one of: name, count, ratio, loud, places, token"),
    ({"count": "many"}, "--provider-opt count=many is not a number from 0 to 9: pass e.g. --provider-opt count=2"),
    ({"count": "10"}, "--provider-opt count=10 is not a number from 0 to 9: pass e.g. --provider-opt count=2"),
    ({"ratio": "-1"}, "--provider-opt ratio=-1 is not a number of at least 0: pass e.g. --provider-opt ratio=0.5"),
    ({"loud": "maybe"}, "--provider-opt loud=maybe is not true or false: write loud=false or loud=true"),
    ({"places": ","}, "--provider-opt places=, is not a list of places: write it as --provider-opt places=a,b"),
    ({"places": "a,nowhere"}, "--provider-opt places=a,nowhere is not a list of places (nowhere is not a place): "
                              "write it as --provider-opt places=a,b"),
])
def test_each_mistake_is_one_line_naming_key_value_and_fix(values: dict[str, str], expected: str) -> None:
    assert _error(values) == expected


def test_values_are_typed_and_environment_and_empty_values_fall_back() -> None:
    parsed = parse(Toy, {"count": "3", "ratio": "2", "loud": "yes", "places": "x, y", "name": ""}, "toy",
                   environ={"TOY_NAME": "from-env"})
    assert parsed == Toy(name="from-env", count=3, ratio=2.0, loud=True, places=("x", "y"))
    assert parse(Toy, {"name": "given"}, "toy", environ={"TOY_NAME": "from-env"}).name == "given"


def test_a_setting_needed_to_create_is_demanded_only_for_up() -> None:
    parsed = parse(Toy, {}, "toy", environ={})  # down, status and the janitor do not need it
    with pytest.raises(ConfigError, match=r"^no toy name given: pass --provider-opt name=x or set TOY_NAME$"):
        require(parsed, "toy", "up")


def test_pairs_leave_out_defaults_and_secrets() -> None:
    parsed = parse(Toy, {"count": "3", "token": "s3cr3t-value", "places": "p,q"}, "toy", environ={})
    assert to_pairs(parsed) == ["count=3", "places=p,q"]


@given(name=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), count=st.integers(0, 9),
       ratio=st.floats(0, 1e6, allow_nan=False), loud=st.booleans(),
       places=st.lists(st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True), min_size=1, max_size=4))
def test_pairs_rebuild_the_same_settings(name: str, count: int, ratio: float, loud: bool, places: list[str]) -> None:
    settings = Toy(name, count, ratio, loud, tuple(places))
    pairs = dict(pair.split("=", 1) for pair in to_pairs(settings))
    assert parse(Toy, pairs, "toy", environ={}) == settings


def test_registry_pairs_rebuild_a_cloud_provider(tmp_path: Path) -> None:
    extra = {"project": "p1", "zones": "europe-west4-a,europe-west1-b", "api_cidr": "10.0.0.0/8", "disk_gb": "50"}
    first = GCEProvider(ProviderOptions(work_dir=tmp_path, run_id="r1", extra=extra))
    pairs = registry.settings_pairs(first)
    assert pairs == ["api_cidr=10.0.0.0/8", "project=p1", "zones=europe-west4-a,europe-west1-b", "disk_gb=50"]
    again = registry.load("gce")(options.build(run_id="r1", work_dir=str(tmp_path), extra=pairs))
    assert again.settings == first.settings


def test_provider_opts_from_the_environment_are_overridden_by_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(options.ENV_OPTS, "zones=a-b1-c project='my project'")
    built = options.build(run_id="r1", extra=["zones=x-y1-z"])
    assert dict(built.extra) == {"zones": "x-y1-z", "project": "my project"}


def test_a_common_flag_given_as_a_provider_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^--provider-opt k8s_version is not a provider setting but a common one: "
                                          r"pass --k8s-version instead$"):
        options.build(run_id="r1", extra=["k8s_version=1.31"])


def test_help_rows_come_from_the_declarations() -> None:
    rows = {row.key: row for row in registry.settings_help("kind")}
    assert rows["workers"] == ("workers", "int", "0", "Worker nodes per cluster besides the control plane.")
    assert [row.key for row in help_rows(Toy)] == ["name", "count", "ratio", "loud", "places", "token"]
    gce = [row.key for row in registry.settings_help("gce")]
    assert gce[0] == "project" and gce[-3:] == ["api_cidr", "api_port", "workers"]  # its own first, shared last
    assert [row.key for row in registry.settings_help("existing")] == [
        "outage_command", "restore_command", "restart_command", "upgrade_command", "outage_modes", "command_timeout"]


def test_the_readme_table_is_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- provider settings: generated -->\n(.*?)<!-- provider settings: end -->", readme, re.S)
    assert found, "README.md lost its provider settings markers"
    assert found.group(1) == registry.settings_table(), (
        "README.md's provider settings table differs from the declarations: replace it with the output of "
        "python -c 'from providers import registry; print(registry.settings_table(), end=\"\")'")
