"""The spec's uploader checklist (shared/spec/test-history.md §8), checked on what a sink holds.

Written independently of upload/ (no import of its layout or lint code), so a bug there cannot hide
itself here. One checker for both sinks: `local_objects(root)` and `gcs_objects(client, bucket)`
read the stored objects into the same shape.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

JUNIT_RE = re.compile(r"^junit(_[^_/]+)?(_\d{8}-\d{4})?(_\d+)?\.xml$|^junit[^/]*\.xml$")
RESULTS = {"SUCCESS", "FAILURE", "ABORTED"}
EXPECTED_TYPES = {".json": "application/json", ".xml": "application/xml", ".txt": "text/plain"}


@dataclass
class StoredObject:
    data: bytes
    content_type: str | None  # None for a folder (no object metadata)
    cache_control: str | None
    written: float  # ordering key: mtime (folder) or update time (bucket)


def local_objects(root: Path) -> dict[str, StoredObject]:
    return {
        p.relative_to(root).as_posix(): StoredObject(p.read_bytes(), None, None, p.stat().st_mtime_ns / 1e9)
        for p in root.rglob("*")
        if p.is_file()
    }


def gcs_objects(client, bucket: str) -> dict[str, StoredObject]:
    return {
        blob.name: StoredObject(
            blob.download_as_bytes(), blob.content_type, blob.cache_control, blob.updated.timestamp()
        )
        for blob in client.list_blobs(bucket)
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json(objects: dict[str, StoredObject], name: str, problems: list[str]) -> dict | None:
    if name not in objects:
        problems.append(f"{name} missing")
        return None
    try:
        doc = json.loads(objects[name].data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        problems.append(f"{name} is not UTF-8 JSON: {err}")
        return None
    if not isinstance(doc, dict):
        problems.append(f"{name} is not a JSON object")
        return None
    return doc


def _junit_problems(name: str, data: bytes) -> list[str]:
    try:
        data.decode("utf-8")
        root = ET.fromstring(data)
    except (UnicodeDecodeError, ET.ParseError) as err:
        return [f"{name}: not UTF-8 XML: {err}"]
    if root.tag not in ("testsuites", "testsuite"):
        return [f"{name}: root <{root.tag}>"]
    problems = []
    suites = [root] if root.tag == "testsuite" else root.findall(".//testsuite")
    if not any(s.findall("testcase") for s in suites):
        problems.append(f"{name}: no test cases")
    for suite in suites:
        if suite.findall("testcase") and not suite.get("name"):
            problems.append(f"{name}: unnamed suite")
        for case in suite.findall("testcase"):
            failure = case.find("failure")
            if failure is not None and not failure.get("message"):
                problems.append(f"{name}: failure without message in {case.get('name')}")
            skipped = case.find("skipped")
            if skipped is not None and (skipped.get("message") or "").strip().lower() in ("", "skipped"):
                problems.append(f"{name}: skip without message in {case.get('name')}")
    return problems


def checklist_problems(objects: dict[str, StoredObject], job: str, build: str) -> list[str]:
    """Every rule of §8 that the stored objects break; empty when the build is right."""
    problems: list[str] = []
    job_dir = f"logs/{job}"
    base = f"{job_dir}/{build}"
    if not build.isdigit():
        problems.append(f"build id {build!r} is not numeric")
    outside = [
        n
        for n in objects
        if n.startswith(job_dir + "/")
        and not n.startswith(base + "/")
        and n != f"{job_dir}/latest-build.txt"
        and not re.match(rf"{re.escape(job_dir)}/\d+/", n)
    ]
    problems += [f"{n} outside a build directory" for n in outside]

    started = _json(objects, f"{base}/started.json", problems)
    if started is not None:
        if not _is_int(started.get("timestamp")) or started["timestamp"] <= 0:
            problems.append(f"started.json timestamp {started.get('timestamp')!r} is not a positive integer")
        for key in ("node", "repo-commit", "pull"):
            if key in started and not isinstance(started[key], str):
                problems.append(f"started.json {key} is not a string")
        if "repos" in started and not (
            isinstance(started["repos"], dict) and all(isinstance(v, str) for v in started["repos"].values())
        ):
            problems.append("started.json repos is not a map of strings")

    artifacts = {n: o for n, o in objects.items() if n.startswith(f"{base}/artifacts/")}
    junit = {n: o for n, o in artifacts.items() if n.rsplit("/", 1)[-1].startswith("junit")}
    if not junit:
        problems.append("no artifacts/junit*.xml")
    for name, obj in junit.items():
        relative = name[len(f"{base}/artifacts/") :]
        if "/" in relative or not JUNIT_RE.match(relative):
            problems.append(f"{name}: not directly in artifacts/ as junit_*.xml")
        problems += _junit_problems(name, obj.data)
    if f"{base}/build-log.txt" not in objects:
        problems.append("build-log.txt missing at the build root")

    finished = _json(objects, f"{base}/finished.json", problems)
    if finished is not None:
        ts = finished.get("timestamp")
        if not _is_int(ts) or ts <= 0:
            problems.append(f"finished.json timestamp {ts!r} is not a positive integer")
        elif started is not None and _is_int(started.get("timestamp")) and ts < started["timestamp"]:
            problems.append("finished.json timestamp before started.json timestamp")
        if not isinstance(finished.get("passed"), bool):
            problems.append("finished.json passed is not a boolean")
        if finished.get("result") not in RESULTS:
            problems.append(f"finished.json result {finished.get('result')!r}")
        elif finished.get("passed") != (finished["result"] == "SUCCESS"):
            problems.append("finished.json passed contradicts result")
        metadata = finished.get("metadata")
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            problems.append("finished.json metadata is not a map of strings")
        elif "job-version" not in metadata:
            problems.append("finished.json metadata has no job-version")

    latest = objects.get(f"{job_dir}/latest-build.txt")
    if latest is None:
        problems.append("latest-build.txt missing")
    else:
        if latest.data.decode().strip() != build:
            problems.append(f"latest-build.txt says {latest.data!r}, not {build}")
        if latest.content_type is not None and "no-cache" not in (latest.cache_control or ""):
            problems.append("latest-build.txt is cacheable")

    for name, obj in objects.items():
        if obj.content_type is None or not name.startswith(base + "/"):
            continue
        suffix = Path(name).suffix
        if suffix in EXPECTED_TYPES and obj.content_type != EXPECTED_TYPES[suffix]:
            problems.append(f"{name}: content type {obj.content_type}")
    if latest is not None and latest.content_type not in (None, "text/plain"):
        problems.append(f"latest-build.txt: content type {latest.content_type}")

    # Order: started.json first, finished.json after every other build object, latest-build.txt last.
    build_objects = {n: o for n, o in objects.items() if n.startswith(base + "/")}
    if started is not None and finished is not None and latest is not None:
        first = build_objects[f"{base}/started.json"].written
        done = build_objects[f"{base}/finished.json"].written
        for name, obj in build_objects.items():
            if not first <= obj.written:
                problems.append(f"{name} written before started.json")
            if name != f"{base}/finished.json" and obj.written > done:
                problems.append(f"{name} written after finished.json")
        if latest.written < done:
            problems.append("latest-build.txt written before finished.json")
    return problems
