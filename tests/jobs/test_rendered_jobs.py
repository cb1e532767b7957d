"""The XML Jenkins receives: trigger, builder command, wrappers and publishers of each nightly job."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dashboard_config import nightly_jobs
from tests.jobs.conftest import BUCKET, PROVIDERS

POST_BUILD_STEP = (
    "./publishers/org.jenkinsci.plugins.postbuildscript.PostBuildScript/config/buildSteps/"
    "org.jenkinsci.plugins.postbuildscript.model.PostBuildStep"
)
BINDINGS = "./buildWrappers/org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper/bindings/"


def expected_run(provider: str, build_id: str = "$BUILD_NUMBER", extra: tuple[str, ...] = ()) -> list[str]:
    """The tox arguments; `extra` is what follows the deadline (in the script: the conformance options)."""
    job = f"e2e-{provider}-nightly"
    return ["-e", f"e2e-{provider}", "--", "--results", f"gs://{BUCKET}/logs/{job}", "--job", job,
            "--build-id", build_id, "--deadline", "13800", *extra]  # fmt: skip


def test_one_nightly_job_per_provider(jobs: dict[str, ET.ElementTree]) -> None:
    assert sorted(jobs) == sorted(f"e2e-{provider}-nightly" for provider in PROVIDERS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timed_trigger_spreads_over_the_night(jobs: dict[str, ET.ElementTree], provider: str) -> None:
    specs = [
        node.text
        for node in jobs[f"e2e-{provider}-nightly"].findall("./triggers/hudson.triggers.TimerTrigger/spec")
    ]
    assert specs == ["H H(0-4) * * *"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_builder_runs_the_provider_tox_env(jobs: dict[str, ET.ElementTree], provider: str) -> None:
    shells = nightly_jobs.builder_shells(jobs[f"e2e-{provider}-nightly"])
    assert len(shells) == 1
    assert nightly_jobs.tox_command(shells[0]) == ["./.ci/tox", *expected_run(provider, extra=("${conformance[@]}",))]
    assert shells[0].startswith("#!/bin/bash -eux\n")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_publishers_archive_artifacts_and_record_junit(
    jobs: dict[str, ET.ElementTree], provider: str
) -> None:
    job = jobs[f"e2e-{provider}-nightly"]
    assert (
        job.findtext("./publishers/hudson.tasks.ArtifactArchiver/artifacts")
        == f"_artifacts/e2e-{provider}/**"
    )
    junit = job.find("./publishers/hudson.tasks.junit.JUnitResultArchiver")
    assert junit is not None
    assert junit.findtext("testResults") == f"_artifacts/e2e-{provider}/junit_*.xml"  # conformance files too
    assert junit.findtext("allowEmptyResults") == "false"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_aborted_or_failed_build_is_finished_from_what_the_run_left(
    jobs: dict[str, ET.ElementTree], provider: str
) -> None:
    steps = jobs[f"e2e-{provider}-nightly"].findall(POST_BUILD_STEP)
    assert [[node.text for node in step.findall("./results/string")] for step in steps] == [["ABORTED", "FAILURE"]]
    (shell,) = [node.text or "" for node in steps[0].findall("./buildSteps/hudson.tasks.Shell/command")]
    job = f"e2e-{provider}-nightly"
    assert nightly_jobs.tox_command(shell) == [
        "./.ci/tox", "exec", "-e", f"e2e-{provider}", "--", "fedtest", "abort",
        "--artifacts", f"_artifacts/e2e-{provider}",
        "--results", f"gs://{BUCKET}/logs/{job}", "--job", job, "--build-id", "$BUILD_NUMBER",
    ]  # fmt: skip


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wrappers_timestamp_clean_time_out_and_bind_credentials(
    jobs: dict[str, ET.ElementTree], provider: str
) -> None:
    job = jobs[f"e2e-{provider}-nightly"]
    assert job.find("./buildWrappers/hudson.plugins.timestamper.TimestamperBuildWrapper") is not None
    assert job.find("./buildWrappers/hudson.plugins.ws__cleanup.PreBuildCleanup") is not None
    timeout = job.find("./buildWrappers/hudson.plugins.build__timeout.BuildTimeoutWrapper")
    assert timeout is not None
    assert timeout.find("./operationList/hudson.plugins.build__timeout.operations.AbortOperation") is not None
    assert int(timeout.findtext("./strategy/timeoutMinutes") or 0) > 0
    bindings = {
        (node.tag.rsplit(".", 1)[-1], node.findtext("credentialsId")): node.findtext("variable")
        or node.findtext("usernameVariable")
        for node in job.findall(BINDINGS + "*")
    }
    expected = {("FileBinding", "fedtest-gcs-writer"): "GOOGLE_APPLICATION_CREDENTIALS"}
    if provider == "gce":
        expected[("FileBinding", "fedtest-gce")] = "FEDTEST_GCE_CREDENTIALS"
    if provider == "azure":
        expected[("UsernamePasswordMultiBinding", "fedtest-azure")] = "AZURE_CLIENT_ID"
        expected[("StringBinding", "fedtest-azure-tenant")] = "AZURE_TENANT_ID"
        expected[("StringBinding", "fedtest-azure-subscription")] = "AZURE_SUBSCRIPTION_ID"
    assert bindings == expected


def lint(directory: Path) -> subprocess.CompletedProcess[str]:
    linter = shutil.which("jenkins-job-linter", path=str(Path(sys.executable).parent)) or "jenkins-job-linter"
    return subprocess.run(
        [linter, "lint-directory", str(directory)], capture_output=True, text=True, check=False
    )


def test_jenkins_job_linter_passes(rendered: tuple[Path, dict[str, ET.ElementTree]]) -> None:
    done = lint(rendered[0])
    assert (done.returncode, done.stdout) == (0, "")


def test_jenkins_job_linter_catches_a_missing_timestamper(
    rendered: tuple[Path, dict[str, ET.ElementTree]], tmp_path: Path
) -> None:
    source = rendered[0] / "e2e-kind-nightly"
    text = source.read_text(encoding="utf-8").replace(
        "<hudson.plugins.timestamper.TimestamperBuildWrapper/>", ""
    )
    (tmp_path / "e2e-kind-nightly").write_text(text, encoding="utf-8")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "e2e-kind-nightly: checking for timestamps: FAIL" in done.stdout


@pytest.mark.parametrize(("provider", "needed"), [("gce", "api_cidr="), ("azure", "api_cidr="), ("kind", "")])
def test_provider_settings_are_a_job_parameter(jobs: dict[str, ET.ElementTree], provider: str, needed: str) -> None:
    params = {
        p.findtext("name"): p.findtext("defaultValue") or ""
        for p in jobs[f"e2e-{provider}-nightly"].iter("hudson.model.StringParameterDefinition")
    }
    assert "FEDTEST_PROVIDER_OPTS" in params  # read by the plugin as extra --provider-opt values
    assert needed in params["FEDTEST_PROVIDER_OPTS"]
    assert all("=" in word for word in params["FEDTEST_PROVIDER_OPTS"].split())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_conformance_is_a_job_parameter_off_by_default(jobs: dict[str, ET.ElementTree], provider: str) -> None:
    job = jobs[f"e2e-{provider}-nightly"]

    def defaults(kind: str) -> dict[str | None, str | None]:
        return {p.findtext("name"): p.findtext("defaultValue") for p in job.iter(f"hudson.model.{kind}")}

    assert defaults("BooleanParameterDefinition") == {"FEDTEST_CONFORMANCE": "false"}
    strings = defaults("StringParameterDefinition")
    assert strings["FEDTEST_CONFORMANCE_FOCUS"] == r"\[Conformance\]"
