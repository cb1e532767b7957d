"""The `fedtest` command: one entry for every verb, every failure one line with a documented exit code."""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from fedtest import cli
from fedtest.errors import EXIT_CODES, FedtestError
from providers import registry
from providers.base import ProviderError
from tests.lifecycle_runs import fedtest
from upload.errors import UploadError

VERBS = ["list", "up", "down", "status", "janitor", "publish", "abort", "lint", "reset-latest", "check-dashboard",
         "grid"]


def test_help_lists_every_command_and_every_exit_code():
    done = fedtest("--help")
    assert done.returncode == 0
    for verb in VERBS:
        assert f"    {verb} " in done.stdout or f"    {verb}\n" in done.stdout, verb
    for code, text in EXIT_CODES.items():
        assert f"{code:<4} {text}" in done.stdout


def test_every_option_of_every_command_explains_itself():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(commands.choices) == sorted(VERBS)
    for verb, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"fedtest {verb} {action.option_strings or action.dest} has no help text"
            if action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings:
                assert "default" in action.help, f"fedtest {verb} {action.option_strings} hides its default"


def test_the_console_script_is_installed_beside_the_interpreter():
    script = Path(sys.executable).parent / "fedtest"
    assert script.is_file(), "pip install -e . installs the fedtest command into the venv's bin/"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate"], "fedtest: error: argument COMMAND: invalid choice: 'frobnicate'*see `*fedtest --help`"),
        (["publish"], "fedtest: error: the following arguments are required: --results, --artifacts*"),
        (["down", "--artifacts", "/nonexistent"], "fedtest: error: no ledger at /nonexistent/ledger.json*"),
        (["abort", "--job", "j"], "fedtest: error: no build id to abort: pass --build-id N*"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, monkeypatch):
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    done = fedtest(*args, env={"BUILD_NUMBER": ""})
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert pytest.LineMatcher(lines).fnmatch_lines([message]) is None


def test_an_unexpected_error_is_one_line_and_exit_3(capsys):
    parser = cli.build_parser()

    def broken(args: argparse.Namespace) -> int:
        raise KeyError("ledger")

    parser.set_defaults(run=broken)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["lint"].set_defaults(run=broken)
    assert cli.run(parser, ["lint", "."]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fedtest: error: unexpected KeyError: 'ledger' (a defect in fedtest: please report it)"]


def test_one_error_root():
    assert issubclass(ProviderError, FedtestError) and issubclass(UploadError, FedtestError)
    err = ProviderError("the kind CLI is not on PATH", "install kind")
    assert str(err) == "the kind CLI is not on PATH: install kind" and err.exit_code == 2


def test_list_names_the_interpreter_and_fails_on_a_provider_that_cannot_load(monkeypatch, capsys):
    found = dict(registry._entry_points())
    found["broken"] = EntryPoint("broken", "fedtest_missing_dependency:Provider", registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: found)
    assert cli.main(["list"]) == 1
    out = capsys.readouterr().out
    assert sys.executable in out
    assert "existing     ok" in out
    broken = next(line for line in out.splitlines() if line.strip().startswith("broken"))
    assert "No module named 'fedtest_missing_dependency'" in broken and sys.executable in broken


def test_down_and_status_rebuild_the_provider_the_run_used(kube_ab, tmp_path):
    _kube, kubeconfig = kube_ab
    artifacts, work = tmp_path / "artifacts", tmp_path / "work"
    up = fedtest("up", "--provider", "existing", "--kubeconfig", str(kubeconfig), "--contexts", "a,b",
                 "--work-dir", str(work), "--artifacts", str(artifacts), "--deadline", "20")
    assert up.returncode == 0, up.stderr
    assert "Setup: existing up a: started" in up.stdout and "Setup: existing up a: up" in up.stdout
    options = json.loads((artifacts / "ledger.json").read_text())["options"]
    assert options["work_dir"] == str(work) and options["contexts"] == ["a", "b"]
    assert options["kubeconfig"] == str(kubeconfig)
    status = fedtest("status", "--artifacts", str(artifacts))
    assert status.returncode == 0 and status.stdout.count("up (answering)") == 2, status.stdout + status.stderr
    down = fedtest("down", "--artifacts", str(artifacts))
    assert down.returncode == 0 and "Teardown: existing down b: down" in down.stdout, down.stderr
    again = fedtest("down", "--artifacts", str(artifacts))
    assert again.returncode == 0 and "nothing to tear down" in again.stdout


def test_the_ledger_records_the_settings_that_rebuild_the_provider(tmp_path):
    from providers import ledger, options, registry

    extra = ["project=p", "zones=europe-west1-b,europe-west1-c", "api_cidr=203.0.113.0/24"]
    opts = options.build(run_id="r", extra=extra, work_dir=str(tmp_path))
    provider = registry.load("gce")(opts)
    saved = ledger.Ledger.create(tmp_path, "r", "gce", options=opts, settings=registry.settings_pairs(provider))
    recorded = json.loads(saved.path.read_text())["options"]["settings"]
    assert "zones=europe-west1-b,europe-west1-c" in recorded and "api_cidr=203.0.113.0/24" in recorded


def test_a_kubeconfig_that_is_yaml_but_not_a_mapping_is_one_line(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("- just\n- a list\n")
    done = fedtest("up", "--provider", "existing", "--kubeconfig", str(bad), "--contexts", "a",
                   "--artifacts", str(tmp_path / "artifacts"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"fedtest: error: kubeconfig {bad} is not valid " + done.stderr.split(
        "is not valid ", 1)[1].strip()
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_interpreter_without_the_dependencies_gets_one_line_naming_it(tmp_path):
    import subprocess

    from tests.conftest import ROOT

    # -S: no site-packages at all, as with a system python3 that fedtest was never installed into.
    done = subprocess.run([sys.executable, "-S", "-m", "fedtest", "list"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and sys.executable in lines[0] and "dependencies are missing" in lines[0], lines
