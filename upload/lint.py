"""Lint results before upload against what TestGrid, Kettle and Deck actually accept (spec §1.2, §2-4, §10).

Findings are reported and fail the run's verdict; they never stop what exists from being uploaded.
Checked: every JUnit parses, is UTF-8, is under 100 MB, lies directly in artifacts/ and is named
junit*.xml; a `<testsuites>` or single `<testsuite>` root (several top-level suites without a wrapper
lose all but the first, silently); no empty JUnit; suites nested at most MAX_JUNIT_DEPTH deep; named
suites; skips and failures with messages; case names unique across files; started.json / finished.json
types. plan_artifacts decides which files an upload publishes and under which names; each file it
leaves out (links out of the folder, special or compressed files, names upload.names refuses) is a finding.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from upload import files, layout, names, scrub

MAX_JUNIT_BYTES = 100 * 1024 * 1024
SNIFF_XML_BYTES = 10 * 1024 * 1024
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([^\"']+)[\"']")
_JUNK_AFTER_ROOT = 9  # expat XML_ERROR_JUNK_AFTER_DOC_ELEMENT


@dataclass(frozen=True)
class Finding:
    """One problem: which file and what is wrong (and what readers will do with it)."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def is_junit_name(name: str) -> bool:
    """TestGrid's rule: junit<anything>.xml, or Bazel's test.xml."""
    return bool(layout.JUNIT_NAME_RE.match(name)) or name == "test.xml"


@dataclass
class _Scan:
    """What lint needs of a JUnit document: its root, row names and per-case problems."""

    root: str
    names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unnamed_suites: int = 0
    cases: int = 0

    @classmethod
    def stream(cls, data: bytes) -> _Scan:
        """Read the document as a stream (iterparse): each case is checked when it ends, then dropped, so
        memory holds one case, not the tree. Suites nested deeper than MAX_JUNIT_DEPTH are a problem and
        are not read; nothing recurses, so no depth can crash it."""
        scan: _Scan | None = None
        # One entry per open element: is it the root or a suite under the root's chain (a "walked" suite),
        # and the row-name path of the suites down to it.
        walked: list[bool] = []
        paths: list[list[str]] = []
        has_cases: list[bool] = []
        elements: list[ET.Element] = []
        too_deep = False
        for event, element in ET.iterparse(io.BytesIO(data), events=("start", "end")):
            if event == "start":
                if scan is None:
                    scan = cls(element.tag)
                    is_walked = element.tag in ("testsuites", "testsuite")
                    path = [element.get("name", "")] if element.tag == "testsuite" else []
                else:
                    is_walked = walked[-1] and element.tag == "testsuite"
                    if is_walked and len(walked) >= layout.MAX_JUNIT_DEPTH:
                        too_deep, is_walked = True, False
                    path = [*paths[-1], element.get("name", "")] if is_walked else paths[-1]
                walked.append(is_walked)
                paths.append(path)
                has_cases.append(False)
                elements.append(element)
                continue
            own_cases, was_walked, _element, _path = has_cases.pop(), walked.pop(), elements.pop(), paths.pop()
            if was_walked and element.tag == "testsuite" and own_cases and not element.get("name", "").strip():
                scan.unnamed_suites += 1  # type: ignore[union-attr]
            if not walked or not walked[-1]:
                continue  # the root, or inside a case or a foreign element: its parent still needs it
            if element.tag == "testcase":
                has_cases[-1] = has_cases[-1] or elements[-1].tag == "testsuite"
                scan._case(element, paths[-1])  # type: ignore[union-attr]
            element.clear()
            elements[-1].remove(element)  # the only child left: each one is removed as it ends
        if scan is None:
            raise ET.ParseError("no element found")
        if too_deep:
            scan.problems.append(
                f"suites nested more than {layout.MAX_JUNIT_DEPTH} elements deep: the deeper ones are not read; "
                "flatten them"
            )
        return scan

    def _case(self, case: ET.Element, path: list[str]) -> None:
        name = case.get("name", "")
        self.cases += 1
        if not name.strip():
            self.problems.append("a <testcase> without a name")
        attempt = any(p.get("name") == "attempt" for p in case.iter("property"))
        if not attempt:  # a rerun's attempts share the test's name on purpose: TestGrid's "k/N runs passed"
            self.names.append(".".join([s for s in path if s] + [name]))
        outcomes = {
            child.tag: ((child.get("message") or "").strip(), "".join(child.itertext()).strip())
            for child in case
            if child.tag in ("skipped", "failure", "error")
        }
        if "skipped" in outcomes:
            message, body = outcomes["skipped"]
            if not body and message.lower() in ("", "skipped"):
                self.problems.append(f"skipped case {name!r} has no reason: TestGrid drops its row")
        for tag in ("failure", "error"):
            if tag in outcomes and not any(outcomes[tag]):
                self.problems.append(f"<{tag}> of {name!r} has no message: say what failed")


def _first_bad_utf8(data: bytes, chunk: int = 1 << 20) -> int | None:
    """Offset of the first byte that is not UTF-8, checked a chunk at a time (no copy of the whole file)."""
    if data.isascii():
        return None
    pos = 0
    while pos < len(data):
        final = pos + chunk >= len(data)
        try:
            _text, consumed = codecs.utf_8_decode(data[pos : pos + chunk], "strict", final)
        except UnicodeDecodeError as err:
            return pos + err.start
        pos += consumed
    return None


def _scan(where: str, data: bytes) -> tuple[_Scan | None, list[Finding]]:
    if not data or data.isspace():  # not strip(): that copies the whole file
        return None, [Finding(where, "empty JUnit file: TestGrid reads it as zero tests, silently")]
    bad = _first_bad_utf8(data)
    if bad is not None:
        return None, [Finding(where, f"not UTF-8 (byte {bad}): TestGrid marks the build malformed")]
    declared = _DECLARED_ENCODING.match(data)
    if declared and declared.group(1).decode("ascii", "replace").lower() not in ("utf-8", "utf8"):
        return None, [Finding(where, f"declares encoding {declared.group(1).decode()!r}: write UTF-8")]
    try:
        return _Scan.stream(data), []
    except ET.ParseError as err:
        if err.code == _JUNK_AFTER_ROOT and b"<testsuite" in data[data.find(b"</testsuite>") + 12 :]:
            problem = (
                "several top-level <testsuite> without a <testsuites> wrapper: "
                "TestGrid reads only the first suite, silently"
            )
            return None, [Finding(where, problem)]
        return None, [Finding(where, f"does not parse as XML ({err}): TestGrid marks the build malformed")]


def lint_junit(where: str, data: bytes) -> tuple[list[Finding], list[str]]:
    """Findings for one JUnit document, and its row names (suite names joined by '.', then the case)."""
    if len(data) >= MAX_JUNIT_BYTES:
        return [Finding(where, f"{len(data)} bytes: TestGrid rejects JUnit files of 100 MB or more")], []
    scan, findings = _scan(where, data)
    if scan is None:
        return findings, []
    if scan.root not in ("testsuites", "testsuite"):
        problem = f"root element <{scan.root}>: TestGrid accepts only <testsuites> or <testsuite>"
        return [Finding(where, problem)], []
    unnamed = "a <testsuite> without a name: name it, the name prefixes every TestGrid row"
    findings += [Finding(where, unnamed)] * scan.unnamed_suites
    findings += [Finding(where, problem) for problem in scan.problems]
    if not scan.cases:
        findings.append(
            Finding(where, "no test cases: a run that wrote an empty JUnit file is almost always a bug")
        )
    return findings, scan.names


def lint_artifact_files(files_: Iterable[tuple[str, files.Planned]], require_junit: bool = True) -> list[Finding]:
    """Lint the files of an artifacts folder, given as plan_artifacts gives them (object name, planned file)."""
    findings: list[Finding] = []
    planned = list(files_)
    if require_junit and not any(is_junit_name(rel.rsplit("/", 1)[-1]) for rel, _ in planned):
        findings.append(Finding("artifacts/", "no junit*.xml file: TestGrid will show no test rows"))
    for relative, source in planned:
        where = f"artifacts/{relative}"
        base = relative.rsplit("/", 1)[-1]
        if not base.lower().endswith(".xml"):
            continue
        size = source.size
        junit = is_junit_name(base)
        if not junit and size > SNIFF_XML_BYTES:
            continue
        try:
            data = source.read() if size < MAX_JUNIT_BYTES else b""
        except OSError as err:
            findings.append(Finding(where, f"cannot read: {err.strerror or err}"))
            continue
        if not junit:
            head = data[:4096]
            if b"<testsuite" in head:
                findings.append(
                    Finding(where, "JUnit content in a file TestGrid ignores: name it junit_<context>.xml")
                )
            continue
        if "/" in relative:
            findings.append(
                Finding(where, "JUnit below artifacts/: Kettle reads only files directly in artifacts/")
            )
        if size >= MAX_JUNIT_BYTES:
            findings.append(Finding(where, f"{size} bytes: TestGrid rejects JUnit files of 100 MB or more"))
            continue
        file_findings, _names = lint_junit(where, data)  # a repeated name merges into "k/N runs passed"
        findings += file_findings + [Finding(where, problem) for problem in pytest_rerun_problems(data)]
    return findings


def pytest_rerun_problems(data: bytes) -> list[str]:
    """pytest's own --junitxml with pytest-rerunfailures writes each failed attempt as a bare <testcase>
    (no <failure>) next to the last one: TestGrid then shows a flaky test as passed and an always-failing
    one as FLAKY "1/2". Repeated names are otherwise fine: TestGrid merges them into "k/N runs passed"."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    if root.get("name") != "pytest tests" and not any(s.get("name") == "pytest" for s in root.iter("testsuite")):
        return []
    problems = []
    for suite in root.iter("testsuite"):
        previous: tuple[str, str] | None = None
        for case in suite.findall("testcase"):
            key = (case.get("classname", ""), case.get("name", ""))
            bare = not any(child.tag in ("failure", "error", "skipped") for child in case)
            if key == previous and not any(p.get("name") == "attempt" for p in case.iter("property")):
                problems.append(
                    f"case {key[1]!r} is repeated with the earlier attempt recorded as a pass: pytest-rerunfailures "
                    "with pytest's --junitxml; TestGrid would show a flaky test as passed and an always-failing one "
                    "as FLAKY. Let fedtest write the JUnit (each attempt with its outcome), or run without --reruns"
                )
            previous = key if bare else None
    return problems


def plan_artifacts(
    artifacts_dir: Path, exclude: Iterable[Path] = ()
) -> tuple[list[tuple[str, files.Planned]], list[Finding]]:
    """What an upload of artifacts_dir publishes, decided once (before the build is claimed, if wanted):
    (object name relative to artifacts/, the planned file) sorted, and a finding for every file left out.

    The folder is walked through upload.files: no link below it is ever followed (a symlink to a file or
    a folder, inside the folder or out, is a finding and not uploaded), FIFOs, sockets and devices are left
    out (reading a FIFO would block the job), and so are compressed files (gzip, zip, xz...: the scrubber
    cannot see inside them). Names follow upload.names. Regular files and folders given in `exclude` (the
    build log, the results folder of this build's job when it lies inside) are skipped silently: they are
    recognised by what they are (device and inode), not by name, so nothing else under that name is lost.
    """
    root = Path(artifacts_dir)
    skip = set()
    for path in exclude:
        info = files.lstat_path(path)
        if info is not None and (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            skip.add((info.st_dev, info.st_ino))
    planned: list[tuple[str, files.Planned]] = []
    findings: list[Finding] = []
    try:
        top = files.Folder.open(root)
    except OSError as err:
        return [], [Finding("artifacts/", f"cannot read: {err.strerror or err}")]
    with top:
        skipped: list[tuple[str, ...]] = []
        for relative, info, folder in top.walk():
            where = f"artifacts/{names.printable(relative)}"
            if isinstance(info, OSError):
                problem = info.problem if isinstance(info, files.Refused) else (info.strerror or str(info))
                findings.append(Finding(where, f"cannot read: {problem}"))
                continue
            if any(relative[: len(s)] == s for s in skipped):
                continue
            if (info.st_dev, info.st_ino) in skip and not stat.S_ISLNK(info.st_mode):
                skipped.append(relative)
                continue
            if stat.S_ISDIR(info.st_mode):
                continue
            if stat.S_ISLNK(info.st_mode):
                findings.append(Finding(where, f"symlink to {_link_text(folder, relative[-1])}: not followed, "
                                               "not uploaded"))
                continue
            if not stat.S_ISREG(info.st_mode):
                findings.append(Finding(where, f"{files.kind_of(info.st_mode)}, not a regular file: not uploaded"))
                continue
            name, problem = names.artifact_name(relative)
            if name is None:
                findings.append(Finding(where, f"{problem}: not uploaded; rename it"))
                continue
            source = files.Planned(root, relative, files.Identity.of(info))
            problem = _opaque_problem(source)
            if problem:
                findings.append(Finding(where, problem))
                continue
            planned.append((name, source))
    return sorted(planned, key=lambda item: item[0]), findings


def _link_text(folder: files.Folder | None, name: str) -> str:
    """Where a link points, for the finding (read with readlink, never followed)."""
    try:
        return names.printable(os.readlink(name, dir_fd=folder.fd)) if folder is not None else "?"
    except OSError:
        return "?"


def _opaque_problem(source: files.Planned) -> str | None:
    """Compressed files are not uploaded: the scrubber cannot see the secrets they may hold."""
    try:
        kind = scrub.opaque_format(source.read(8))
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    if kind is None:
        return None
    return f"{kind}-compressed, so secrets in it cannot be scrubbed: not uploaded; put it in uncompressed"


def artifact_files(artifacts_dir: Path, errors: list[Finding] | None = None) -> list[tuple[str, files.Planned]]:
    """(object name relative to artifacts/, path) for every file plan_artifacts publishes, sorted.

    A folder that cannot be read raises OSError, or becomes a finding when `errors` is given (with every
    other file left out): an unreadable folder is never skipped silently.
    """
    files, findings = plan_artifacts(artifacts_dir)
    if errors is not None:
        errors += findings
        return files
    unreadable = next((f for f in findings if f.problem.startswith("cannot read")), None)
    if unreadable is not None:
        raise OSError(13, unreadable.problem.removeprefix("cannot read: "), unreadable.where)
    return files


def _document(where: str, path: Path) -> tuple[object, list[Finding]]:
    try:
        raw = files.read_path(path)
    except OSError as err:
        return None, [Finding(where, f"cannot read: {err.strerror or err}")]
    if not raw.strip():
        return None, [Finding(where, "zero bytes: TestGrid marks the build malformed")]
    try:
        return json.loads(raw.decode("utf-8")), []
    except (UnicodeDecodeError, ValueError) as err:
        return None, [Finding(where, f"not UTF-8 JSON ({err}): TestGrid shows a tool failure")]


def lint_documents(started: object | None, finished: object | None) -> list[Finding]:
    """Type checks of started.json / finished.json documents (already loaded)."""
    findings = (
        [Finding(layout.STARTED, p) for p in layout.started_problems(started)] if started is not None else []
    )
    if finished is not None:
        start_ts = started.get("timestamp") if isinstance(started, dict) else None
        start_ts = start_ts if isinstance(start_ts, int) and not isinstance(start_ts, bool) else None
        findings += [Finding(layout.FINISHED, p) for p in layout.finished_problems(finished, start_ts)]
    return findings


def lint_build(build_dir: Path) -> list[Finding]:
    """Lint one build folder (started.json, finished.json, artifacts/)."""
    findings: list[Finding] = []
    started = finished = None
    if (build_dir / layout.STARTED).exists():
        started, found = _document(layout.STARTED, build_dir / layout.STARTED)
        findings += found
    else:
        findings.append(Finding(layout.STARTED, "missing: every build needs started.json"))
    if (build_dir / layout.FINISHED).exists():
        finished, found = _document(layout.FINISHED, build_dir / layout.FINISHED)
        findings += found
    findings += lint_documents(started, finished)
    artifacts = build_dir / layout.ARTIFACTS
    if artifacts.is_dir():
        files, found = plan_artifacts(artifacts)
        findings += found + lint_artifact_files(files)
    stray = [p.name for p in build_dir.iterdir() if p.is_file() and is_junit_name(p.name)]
    findings += [
        Finding(name, "JUnit outside artifacts/: Kettle and Spyglass do not read it") for name in stray
    ]
    return findings


def lint_path(path: Path) -> list[Finding]:
    """A build folder (has started.json or artifacts/) or a bare artifacts folder of JUnit files."""
    if (path / layout.STARTED).exists() or (path / layout.ARTIFACTS).is_dir():
        return lint_build(path)
    files, found = plan_artifacts(path, nested_results(path))
    return found + lint_artifact_files(files)


def nested_results(artifacts: Path) -> list[Path]:
    """A results tree a run keeps under its artifacts folder (logs/<job>/<build>/): publish leaves it out."""
    logs = artifacts / "logs"
    try:
        held = logs.is_dir() and any(
            (build / layout.STARTED).is_file() or (build / layout.FINISHED).is_file()
            for job in logs.iterdir() if job.is_dir() for build in job.iterdir() if build.is_dir()
        )
    except OSError:
        return []
    return [logs] if held else []
