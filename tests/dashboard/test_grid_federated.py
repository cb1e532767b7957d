"""Federated reporting: one dashboard over two organisations' buckets, each test group read from its own bucket.

TestGrid reads every test group from the bucket in its gcs_prefix; `--results BUCKET=DIR|gs://...` tells the
preview where each bucket is. Also: one build's bad file never breaks the preview, and links survive a copy.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from fedtest.cli import main
from tests.dashboard.grid_trees import HOUR, case, done, failure, junit, write_build
from tests.standins.gcs import FakeGCS
from tests.upload import conftest as upload_fixtures

fake_gcs = upload_fixtures.fake_gcs  # a fake-gcs-server, per test
CONFIG = """
test_groups:
- name: org-a-e2e
  gcs_prefix: org-a-results/logs/org-a-e2e
  disable_prowjob_analysis: true
  column_header:
  - configuration_value: provider
- name: org-b-e2e
  gcs_prefix: org-b-results/logs/org-b-e2e
  disable_prowjob_analysis: true
  column_header:
  - configuration_value: provider
dashboards:
- name: fedtest-federated
  dashboard_tab:
  - name: org-a
    test_group_name: org-a-e2e
  - name: org-b
    test_group_name: org-b-e2e
"""


def grid_json(page: Path) -> dict:
    found = re.search(r'<script id="grid-data" type="application/json">(.*?)</script>', page.read_text(), re.S)
    assert found, "no grid data in the page"
    return json.loads(found.group(1).replace("<\\/", "</"))


def org_tree(root: Path, job: str, provider: str, failing: bool) -> Path:
    now = int(time.time())
    body = failure("lost the leader") if failing else ""
    write_build(root, "1", job=job, started=now - 2 * HOUR,
                finished=done(now - 2 * HOUR, "FAILURE" if failing else "SUCCESS", provider=provider),
                files={"artifacts/junit_01.xml": junit(case("test_federation[c1,c2]", body=body))})  # fmt: skip
    return root


def test_each_test_group_is_read_from_its_own_bucket(tmp_path: Path, fake_gcs: FakeGCS, monkeypatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "federated.yaml").write_text(CONFIG)
    org_a = org_tree(tmp_path / "org-a", "org-a-e2e", "kind", failing=False)
    org_b = org_tree(tmp_path / "org-b", "org-b-e2e", "gce", failing=True)
    fake_gcs.create_bucket("org-b-results")
    bucket = fake_gcs.client().bucket("org-b-results")
    for path in org_b.rglob("*"):
        if path.is_file():
            bucket.blob(f"nightly/{path.relative_to(org_b).as_posix()}").upload_from_filename(str(path))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "fedtest-test")
    out = tmp_path / "site"
    argv = ["grid", "--config", str(tmp_path / "config"), "--out", str(out),
            "--results", f"org-a-results={org_a}", "--results", "org-b-results=gs://org-b-results/nightly"]  # fmt: skip
    assert main(argv) == 0
    a = grid_json(out / "fedtest-federated" / "tab-org-a.html")
    b = grid_json(out / "fedtest-federated" / "tab-org-b.html")
    assert [r["name"] for r in a["rows"]] == ["fedtest e2e.test_federation[c1,c2]", "org-a-e2e.Overall"]
    assert (a["columns"][0]["extra"], b["columns"][0]["extra"]) == (["kind"], ["gce"])
    assert b["rows"][0]["cells"][0][2] == "lost the leader"
    assert not (out / "jobs-without-a-test-group").exists()  # every job in both buckets has its test group


def test_a_bucket_without_results_says_how_to_map_it(tmp_path: Path, capsys) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "federated.yaml").write_text(CONFIG)
    org_a = org_tree(tmp_path / "org-a", "org-a-e2e", "kind", failing=False)
    out = tmp_path / "site"
    argv = ["grid", "--config", str(tmp_path / "config"), "--out", str(out), "--results", f"org-a-results={org_a}"]
    assert main(argv) == 0
    summary_page = (out / "fedtest-federated" / "index.html").read_text()
    assert "no results for bucket &#x27;org-b-results&#x27;: pass --results org-b-results=DIR" in summary_page


def test_one_bad_build_never_breaks_the_preview(tmp_path: Path) -> None:
    """A JUnit nested 1000 deep reads as Go reads it; a finished.json that does not decode fails only its build."""
    now = int(time.time())
    deep = "<testsuites>" + "<testsuite name='n'>" * 1000 + "<testcase name='deep'/>" + "</testsuite>" * 1000
    deep += "</testsuites>"
    results = tmp_path / "results"
    write_build(results, "1", started=now - 3 * HOUR, finished=done(now - 3 * HOUR, "SUCCESS"),
                files={"artifacts/junit_01.xml": deep})  # fmt: skip
    write_build(results, "2", started=now - 2 * HOUR, finished=b'{"timestamp": "soon"}',
                files={"artifacts/junit_01.xml": junit(case("a"))})  # fmt: skip
    write_build(results, "3", started=now - HOUR, finished=done(now - HOUR, "SUCCESS"),
                files={"artifacts/junit_01.xml": junit(case("a"))})  # fmt: skip
    assert main(["grid", "--results", str(results), "--out", str(tmp_path / "site")]) == 0
    data = grid_json(tmp_path / "site" / "provider-fedtest-nightly" / "tab-kind-nightly.html")
    rows = {r["name"]: r["cells"] for r in data["rows"]}
    assert [c["build"] for c in data["columns"]] == ["3", "2", "1"]
    assert rows["n" + ".n" * 999 + ".deep"][2][0] == data["statuses"].index("PASS")
    assert rows["Overall"][1][2].startswith("Failed to download")  # build 2 only
    assert rows["fedtest e2e.a"][0][0] == data["statuses"].index("PASS")


def test_links_survive_copying_the_site_with_its_results(tmp_path: Path) -> None:
    now = int(time.time())
    results = tmp_path / "work" / "results"
    write_build(results, "1", started=now - HOUR, finished=done(now - HOUR, "SUCCESS"))
    assert main(["grid", "--results", str(results), "--out", str(tmp_path / "work" / "site")]) == 0
    shutil.copytree(tmp_path / "work", tmp_path / "elsewhere")
    shutil.rmtree(tmp_path / "work")
    page = tmp_path / "elsewhere" / "site" / "provider-fedtest-nightly" / "tab-kind-nightly.html"
    link = grid_json(page)["links"][0]["log"]
    assert (page.parent / link).read_text() == "build 1 log\n"
    published = tmp_path / "published"
    base = "https://results.example/fedtest"
    assert main(["grid", "--results", str(tmp_path / "elsewhere" / "results"), "--out", str(published),
                 "--link-base", base]) == 0  # fmt: skip
    page = published / "provider-fedtest-nightly" / "tab-kind-nightly.html"
    assert grid_json(page)["links"][0]["log"] == f"{base}/logs/e2e-kind-nightly/1/build-log.txt"
