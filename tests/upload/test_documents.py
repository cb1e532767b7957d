"""Pure parts: layout paths, build ids, started/finished documents, the JUnit writer, the checklist itself."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.upload.checklist import StoredObject, checklist_problems
from upload import layout
from upload.errors import ConfigError
from upload.junit import CaseResult, render, write_junit
from upload.lint import lint_junit


def test_paths():
    loc = layout.BuildLocation.for_job("ci-fedtest-azure", "1700000000")
    assert loc.started == "logs/ci-fedtest-azure/1700000000/started.json"
    assert loc.finished == "logs/ci-fedtest-azure/1700000000/finished.json"
    assert loc.build_log == "logs/ci-fedtest-azure/1700000000/build-log.txt"
    assert loc.artifact("c1/pods.txt") == "logs/ci-fedtest-azure/1700000000/artifacts/c1/pods.txt"
    assert loc.latest_build == "logs/ci-fedtest-azure/latest-build.txt"
    with pytest.raises(ConfigError):
        loc.artifact("../finished.json")


@pytest.mark.parametrize("job", ["", "a b", "a/b", "..", "-x", "x" * 201, "ünï", "a..b"])
def test_bad_job_names(job):
    with pytest.raises(ConfigError, match="bad job name"):
        layout.check_job_name(job)


@pytest.mark.parametrize("build", ["", "abc", "12a", "-1", "0", "007", "1.5", "²", " "])
def test_bad_build_ids(build):
    with pytest.raises(ConfigError, match="not a positive integer"):
        layout.check_build_id(build)


def test_build_id_rules():
    assert layout.choose_build_id("55", {"BUILD_NUMBER": "3"}, 1_700_000_000) == "55"
    assert layout.choose_build_id(None, {"BUILD_NUMBER": "3"}, 1_700_000_000) == "3"
    assert layout.choose_build_id(None, {}, 1_700_000_000) == "1700000000"
    layout.check_newer_than_latest("10", "9\n")
    layout.check_newer_than_latest("10", None)
    with pytest.raises(ConfigError, match="not greater"):
        layout.check_newer_than_latest("9", "10")  # numerically, not as text
    with pytest.raises(ConfigError, match="not greater"):
        layout.check_newer_than_latest("10", "10")


def test_documents_have_strict_types():
    started = layout.started_document(1_700_000_000, node="n1", repos={"org/repo": "main"}, repo_commit="abc")
    assert started == {
        "timestamp": 1_700_000_000,
        "node": "n1",
        "repos": {"org/repo": "main"},
        "repo-commit": "abc",
    }
    finished = layout.finished_document(1_700_000_100, "ABORTED", {"job-version": "v1.31.2"})
    assert finished["passed"] is False and finished["result"] == "ABORTED"
    assert layout.finished_document(1, "SUCCESS")["passed"] is True
    with pytest.raises(ConfigError):
        layout.started_document(1_700_000_000.5)  # Python's time.time() breaks TestGrid
    with pytest.raises(ConfigError):
        layout.finished_document(1, "UNSTABLE")
    with pytest.raises(ConfigError):
        layout.finished_document(1, "SUCCESS", {"clusters": 2})


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"timestamp": "1700000000"}, "timestamp"),
        ({"timestamp": 1.5}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"timestamp": 1, "pull": 123}, "pull"),
        ({"timestamp": 1, "repos": {"a": 1}}, "repos"),
    ],
)
def test_started_problems(doc, fragment):
    assert any(fragment in p for p in layout.started_problems(doc))


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"timestamp": 2, "result": "SUCCESS"}, "passed"),
        ({"timestamp": 2, "passed": True}, "result"),
        ({"timestamp": 2, "passed": True, "result": "FAILURE"}, "contradicts"),
        ({"timestamp": 2.0, "passed": True, "result": "SUCCESS"}, "timestamp"),
        ({"timestamp": 2, "passed": "true", "result": "SUCCESS"}, "passed"),
        ({"timestamp": 2, "passed": True, "result": "SUCCESS", "metadata": {"n": 3}}, "metadata"),
    ],
)
def test_finished_problems(doc, fragment):
    assert any(fragment in p for p in layout.finished_problems(doc))


def test_junit_shape(tmp_path):
    path = write_junit(
        tmp_path / "junit_01.xml",
        "fedtest e2e",
        [
            CaseResult("test_pods[c1]", "e2e", 2.5, properties={"cluster": "c1", "provider": "gce"}),
            CaseResult("test_pods[c1]", "e2e", 1.0, "failed", message="pod never ran", details="trace"),
            CaseResult("test_ingress[c1]", "e2e", 0.0, "skipped", message="skipped"),
            CaseResult("test_fed", "e2e", 0.1, "skipped", message="needs two clusters"),
            CaseResult("cluster teardown", "infra", 3.0, "error", message="kind delete failed"),
        ],
    )
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.find("testsuite").get("name") == "fedtest e2e"
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "test_pods[c1]",
        "test_pods[c1] [2]",
        "test_ingress[c1]",
        "test_fed",
        "cluster teardown",
    ]
    assert {p.get("name"): p.get("value") for p in cases[0].findall("properties/property")} == {
        "cluster": "c1",
        "provider": "gce",
    }
    assert cases[1].find("failure").get("message") == "pod never ran"
    assert cases[2].find("skipped").get("message") not in ("", "skipped")
    assert cases[3].find("skipped").get("message") == "needs two clusters"
    assert cases[4].find("error") is not None and cases[4].find("failure") is None
    findings, names = lint_junit("junit_01.xml", path.read_bytes())
    assert findings == [] and len(set(names)) == 5


def test_junit_refuses_unknown_outcomes_and_unnamed_suites():
    with pytest.raises(ConfigError):
        CaseResult("a", outcome="flaky")
    with pytest.raises(ConfigError):
        render(" ", [CaseResult("a")])


def test_the_checklist_catches_what_readers_reject():
    """The checker used by the sink tests must fail on broken builds, or those tests prove nothing."""
    base = "logs/j/5"

    def obj(data: object, written: float) -> StoredObject:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return StoredObject(raw, None, None, written)

    good = {
        f"{base}/started.json": obj({"timestamp": 100}, 1),
        f"{base}/artifacts/junit_01.xml": obj(render("s", [CaseResult("a")]), 2),
        f"{base}/build-log.txt": obj(b"log", 2),
        f"{base}/finished.json": obj(
            {"timestamp": 200, "passed": True, "result": "SUCCESS", "metadata": {"job-version": "v1"}}, 3
        ),
        "logs/j/latest-build.txt": obj(b"5\n", 4),
    }
    assert checklist_problems(good, "j", "5") == []
    broken = dict(good)
    broken[f"{base}/started.json"] = obj({"timestamp": 100.5}, 1)
    broken[f"{base}/finished.json"] = obj({"timestamp": 200, "result": "SUCCESS", "metadata": {}}, 1.5)
    broken[f"{base}/artifacts/junit_01.xml"] = obj(
        b"<testsuite><testcase name='a'><skipped/></testcase></testsuite>", 2
    )
    broken["logs/j/latest-build.txt"] = obj(b"4", 0.5)
    problems = " | ".join(checklist_problems(broken, "j", "5"))
    for fragment in (
        "started.json timestamp",
        "passed is not a boolean",
        "job-version",
        "unnamed suite",
        "skip without message",
        "written after finished.json",
        "latest-build.txt says",
        "latest-build.txt written before",
    ):
        assert fragment in problems, fragment
