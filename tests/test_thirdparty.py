"""A third-party provider package (tests/thirdparty/fedtest-loopback), installed with pip into a scratch
folder and found through its own entry points, passes the contract kit; its sibling that declares the
inventory capability without leaks() fails it, and the registry refuses it, both naming the verb."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from providers import registry
from providers.base import ConfigError
from tests.conftest import ROOT

PACKAGE = ROOT / "tests" / "thirdparty" / "fedtest-loopback"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(target), str(PACKAGE)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(build)})
    assert done.returncode == 0, done.stderr
    return target


def test_the_package_passes_and_its_forgetful_sibling_fails_naming_leaks(
        installed: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_contract=(PACKAGE / "contract_check.py").read_text())
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(installed), str(ROOT),
                                                                   os.environ.get("PYTHONPATH")])))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rf")
    result.assert_outcomes(passed=15, failed=1, skipped=2)  # no disruption capability: skipped in both
    result.stdout.fnmatch_lines([
        "*AssertionError: loopback-forgetful no_leaks: declares the inventory capability"
        " but does not implement leaks()",
        "FAILED test_contract.py::TestForgetfulContract::test_nothing_leaks_after_down*"])


def test_the_registry_loads_the_package_and_refuses_the_missing_verb(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(installed))
    assert "loopback" in registry.names()
    assert registry.load("loopback").name == "loopback"
    assert [row.key for row in registry.settings_help("loopback")] == ["server"]
    with pytest.raises(ConfigError) as err:
        registry.load("loopback-forgetful")
    assert str(err.value).startswith("provider 'loopback-forgetful' does not implement leaks: ")
