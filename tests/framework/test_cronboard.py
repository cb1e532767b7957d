"""The shared CronJob board: what it creates, how each cron test reads its behaviour from the jobs the
controller left, and the waits each test records. The stand-in runs no CronJob controller, so these
tests write what the controller would (jobs named by their minute, their times, its events)."""

from __future__ import annotations

import datetime as dt
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client
from xdist.plugin import pytest_xdist_auto_num_workers as xdist_auto_workers

from e2e import conftest as e2e_conftest
from e2e import test_cronjobs
from e2e.framework import builders, waits
from e2e.framework.cronboard import (
    MINUTE,
    Board,
    deleted_job_names,
    fired_in_its_minute,
    first_boundary,
    forbid_pair,
    history_kept,
    jobs_by_cronjob,
    only_replacement_running,
    zoned_target,
)
from tests.framework.conftest import NAMESPACE, Clusters

CREATED = dt.datetime(2026, 12, 1, 10, 0, 30, tzinfo=dt.UTC)  # the board's creation; first run at 10:01
MINUTE_OF_CREATION = int(CREATED.timestamp()) // MINUTE


def at(seconds: float) -> dt.datetime:
    return CREATED + dt.timedelta(seconds=seconds)


def run(cronjob: str, minute: int, created_after: float = 1, finished: str | None = None,
        took: float = 5) -> client.V1Job:
    """The job the controller makes for `minute` minutes after the board's creation minute."""
    scheduled = dt.datetime.fromtimestamp((MINUTE_OF_CREATION + minute) * MINUTE, dt.UTC)
    created = scheduled + dt.timedelta(seconds=created_after)
    status = client.V1JobStatus()
    if finished:
        status.conditions = [client.V1JobCondition(type=finished, status="True")]
        status.completion_time = created + dt.timedelta(seconds=took)
    return client.V1Job(metadata=client.V1ObjectMeta(
        name=f"{cronjob}-{MINUTE_OF_CREATION + minute}", creation_timestamp=created,
        owner_references=[client.V1OwnerReference(api_version="batch/v1", kind="CronJob", name=cronjob,
                                                  uid=cronjob)]), status=status)


def manifest(job: client.V1Job) -> dict[str, Any]:
    body = client.ApiClient().sanitize_for_serialization(job)
    body.update(apiVersion="batch/v1", kind="Job", spec={"template": {"spec": {
        "containers": [{"name": "main", "image": "busybox"}], "restartPolicy": "Never"}}})
    return body


@pytest.fixture
def board(east: client.ApiClient) -> Board:
    return Board(east, NAMESPACE, CREATED, zoned_target(CREATED))


class Properties(list):
    def __call__(self, name: str, value: object) -> None:
        self.append((name, value))


def test_board_creates_every_cronjob_at_once(clusters: Clusters, east: client.ApiClient) -> None:
    board = Board.create(east, NAMESPACE, builders.Images(), now=CREATED)
    cronjobs = {c["metadata"]["name"]: c["spec"] for c in clusters.kube.clusters["east"].objects("cronjobs",
                                                                                                NAMESPACE)}
    assert sorted(cronjobs) == ["fails", "fires", "forbid", "passes", "replace", "suspended", "zoned"]
    assert cronjobs["forbid"]["concurrencyPolicy"] == "Forbid" and cronjobs["forbid"]["startingDeadlineSeconds"]
    assert cronjobs["replace"]["concurrencyPolicy"] == "Replace"
    assert cronjobs["suspended"]["suspend"] is True
    assert cronjobs["passes"]["successfulJobsHistoryLimit"] == cronjobs["fails"]["failedJobsHistoryLimit"] == 1
    # 10:00:30 UTC is 15:30:30 in Kolkata: two minutes on, 15:32, whatever the machine's zone
    assert (cronjobs["zoned"]["schedule"], cronjobs["zoned"]["timeZone"]) == ("32 15 * * *", "Asia/Kolkata")
    assert board.zoned_target.astimezone(dt.UTC) == dt.datetime(2026, 12, 1, 10, 2, tzinfo=dt.UTC)
    assert board.created == CREATED


@given(st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2040, 1, 1),
                    timezones=st.just(dt.UTC)))
def test_first_boundary_is_the_next_whole_minute(created: dt.datetime) -> None:
    boundary = first_boundary(created)
    assert boundary.second == boundary.microsecond == 0
    assert created <= boundary < created + dt.timedelta(minutes=1)


def test_a_late_job_fails_fired_in_its_minute() -> None:
    assert fired_in_its_minute([run("fires", 1, finished="Complete")])[1] == "Complete"
    assert fired_in_its_minute([run("fires", 1)]) is None
    with pytest.raises(waits.WaitFailed, match="created 75s after"):
        fired_in_its_minute([run("fires", 1, created_after=75, finished="Complete")])


@pytest.mark.parametrize(("second", "problem"), [
    (run("forbid", 2, created_after=1), "started while"),
    (run("forbid", 3, created_after=1), "1 minute"),
    (run("forbid", 4, created_after=1), None),
])
def test_forbid_pair_accepts_only_a_skipped_minute_after_completion(second: client.V1Job,
                                                                    problem: str | None) -> None:
    finished_first = run("forbid", 2, finished="Complete", took=95)
    jobs = [finished_first if problem != "started while" else run("forbid", 2), second]
    if problem == "1 minute":
        jobs[0] = run("forbid", 2, finished="Complete", took=50)
    if problem is None:
        assert forbid_pair(jobs) == (jobs[0], second)
    else:
        with pytest.raises(waits.WaitFailed, match=problem):
            forbid_pair(jobs)
    assert forbid_pair(jobs[:1]) is None


def test_a_run_started_before_the_previous_completed_fails_forbid() -> None:
    first = run("forbid", 1, finished="Complete", took=200)  # completed after the next one was created
    with pytest.raises(waits.WaitFailed, match="before forbid-"):
        forbid_pair([first, run("forbid", 3)])


def test_replace_and_history_wait_for_a_later_run_alone() -> None:
    first_run = first_boundary(CREATED)
    assert only_replacement_running([run("replace", 1), run("replace", 2)], first_run) is None
    assert only_replacement_running([run("replace", 1)], first_run) is None
    assert only_replacement_running([run("replace", 2)], first_run).metadata.name.endswith(
        str(MINUTE_OF_CREATION + 2))
    assert history_kept([run("passes", 1, finished="Complete"), run("passes", 2, finished="Complete")],
                        first_run) is None
    assert history_kept([run("passes", 1, finished="Complete")], first_run) is None
    assert history_kept([run("passes", 2, finished="Complete"), run("passes", 3)], first_run) is not None


def test_jobs_are_grouped_by_cronjob_without_those_being_deleted() -> None:
    doomed = run("replace", 1)
    doomed.metadata.deletion_timestamp = at(60)
    grouped = jobs_by_cronjob([run("replace", 3), doomed, run("replace", 2), run("fires", 1)], ("replace",))
    assert [j.metadata.name for j in grouped["replace"]] == [f"replace-{MINUTE_OF_CREATION + m}" for m in (2, 3)]


def test_deleted_job_names_come_from_the_controllers_messages() -> None:
    messages = ["Deleted job replace-29000001", "(combined from similar events): Deleted job replace-29000003",
                "Created job replace-29000004", "Deleted job replace-old-29000002"]
    assert deleted_job_names("replace", messages) == {"replace-29000001", "replace-29000003", "replace-29000004"}


def test_forbid_test_records_its_inherent_wait(board: Board, east: client.ApiClient) -> None:
    batch = client.BatchV1Api(east)
    batch.create_namespaced_job(NAMESPACE, manifest(run("forbid", 1, finished="Complete", took=95)))
    timer = threading.Timer(0.3, lambda: batch.create_namespaced_job(NAMESPACE, manifest(run("forbid", 3))))
    timer.start()
    recorded = Properties()
    test_cronjobs.test_forbid_never_overlaps_runs(board, recorded)
    timer.join()
    properties = dict(recorded)
    assert properties["inherent-wait-seconds"] == 30 + 2 * MINUTE + 1  # to 10:01, then two minutes, then 1 s
    assert 0.2 < properties["blocked-seconds"] < 10


def test_forbid_test_fails_fast_on_an_overlap(board: Board, east: client.ApiClient) -> None:
    batch = client.BatchV1Api(east)
    for job in (run("forbid", 1), run("forbid", 2)):
        batch.create_namespaced_job(NAMESPACE, manifest(job))
    with pytest.raises(waits.WaitFailed, match="still ran"):
        test_cronjobs.test_forbid_never_overlaps_runs(board, Properties())


def test_replace_test_needs_the_controllers_deletion(board: Board, east: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(east), client.CoreV1Api(east)
    batch.create_namespaced_job(NAMESPACE, manifest(run("replace", 2)))
    cronjob = builders.cronjob("replace", "* * * * *", {"template": {"spec": {
        "containers": [{"name": "main", "image": "busybox"}], "restartPolicy": "Never"}}})
    cronjob["status"] = {"active": [{"kind": "Job", "name": f"replace-{MINUTE_OF_CREATION + 2}"}]}
    builders.create(east, NAMESPACE, cronjob)
    with pytest.raises(waits.WaitTimeout, match="SuccessfulDelete"):  # absent is not replaced
        board.deleted_jobs("replace", lambda names: f"replace-{MINUTE_OF_CREATION + 1}" in names, timeout=1)
    core.create_namespaced_event(NAMESPACE, deleted_event("replace", 1))
    recorded = Properties()
    test_cronjobs.test_replace_replaces_a_running_job(board, recorded)
    assert dict(recorded)["inherent-wait-seconds"] == 30 + MINUTE + 1



def deleted_event(cronjob: str, minute: int) -> dict[str, Any]:
    return {"metadata": {"name": f"{cronjob}.{minute}", "namespace": NAMESPACE}, "reason": "SuccessfulDelete",
            "message": f"Deleted job {cronjob}-{MINUTE_OF_CREATION + minute}", "type": "Normal",
            "involvedObject": {"kind": "CronJob", "name": cronjob, "namespace": NAMESPACE}}


def test_history_test_needs_one_kept_and_one_pruned_of_each(board: Board, east: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(east), client.CoreV1Api(east)
    batch.create_namespaced_job(NAMESPACE, manifest(run("passes", 2, finished="Complete", took=3)))
    batch.create_namespaced_job(NAMESPACE, manifest(run("fails", 2, finished="Failed", took=4)))
    core.create_namespaced_event(NAMESPACE, deleted_event("passes", 1))
    with pytest.raises(waits.WaitTimeout, match="SuccessfulDelete events of cronjob fails"):
        board.deleted_jobs("fails", bool, timeout=1)
    core.create_namespaced_event(NAMESPACE, deleted_event("fails", 1))
    recorded = Properties()
    test_cronjobs.test_history_limits_hold(board, recorded)
    assert dict(recorded)["inherent-wait-seconds"] == 30 + MINUTE + 1 + 4

def test_clock_bound_tests_are_collected_first_in_their_order() -> None:
    items = [SimpleNamespace(name=name, fixturenames=fixtures) for name, fixtures in [
        ("ingress", ["kube"]), ("suspend", ["cron_board"]), ("pods", []), ("forbid", ["cron_board", "kube"])]]
    e2e_conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["suspend", "forbid", "ingress", "pods"]


def test_long_tests_come_right_after_the_clock_bound_ones() -> None:
    def item(name: str, fixtures: list[str], long: bool) -> SimpleNamespace:
        return SimpleNamespace(name=name, fixturenames=fixtures,
                               get_closest_marker=lambda mark: mark if long and mark == e2e_conftest.LONG else None)

    items = [item("pods", [], False), item("queue", [], True), item("suspend", ["cron_board"], False),
             item("ingress", [], False), item("twenty", [], True)]
    e2e_conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["suspend", "queue", "twenty", "pods", "ingress"]



@pytest.mark.parametrize(("args", "workers"), [
    (["--provider", "kind", "--clusters", "2"], 7),
    (["--provider", "existing", "--contexts", "a,b,c"], 10),
    (["--provider", "kind"], 4),
])
def test_auto_workers_come_from_the_clusters_not_the_cores(pytester: pytest.Pytester, args: list[str],
                                                           workers: int) -> None:
    config = pytester.parseconfig("-n", "auto", *args)
    assert config.hook.pytest_xdist_auto_num_workers(config=config) == workers


def test_auto_workers_leave_the_harness_tests_and_an_explicit_count_to_xdist(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "7")
    config = pytester.parseconfig("-n", "auto", "--provider", "kind", "--clusters", "2")
    assert config.hook.pytest_xdist_auto_num_workers(config=config) == 7
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS")
    config = pytester.parseconfig("-n", "auto")
    assert config.hook.pytest_xdist_auto_num_workers(config=config) == xdist_auto_workers(config)
