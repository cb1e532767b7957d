"""Upload benchmark: one build of 1,000 small artifacts plus 50 MB of logs and JUnit to fake-gcs-server.

Our path (BuildRecord: started.json, lint, scrub, parallel write-once uploads with retries, finished.json,
latest-build.txt) against google-cloud-storage's transfer_manager uploading the same files, in the same
process, alternating the order, each measurement on a freshly started server.
Prints wall times and the ratio ours / transfer_manager (< 1: ours faster); exits 1 when it is above 1.

    PYTHONPATH=$PWD python bench/upload.py [--rounds 2] [--workers 16]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.cloud.storage import transfer_manager

from tests.standins.gcs import FakeGCS
from upload.junit import CaseResult, write_junit
from upload.record import BuildRecord, ResultsTarget
from upload.sinks import GCSSink

BUCKET = "fedtest-bench"
SMALL_FILES = 1000
LOG_BYTES = 40 * 1024 * 1024
JUNIT_CASES = 20_000  # about 10 MB of JUnit with output
TARGET_RATIO = 1.0  # ours / transfer_manager: at least as fast, scrubbing and lint included


def make_inputs(root: Path) -> tuple[Path, Path]:
    """artifacts/ with 1,000 small files and one large JUnit; a 40 MB console log beside it."""
    rng = random.Random(1)
    artifacts = root / "artifacts"
    for i in range(SMALL_FILES):
        folder = artifacts / f"cluster-{i % 4}" / "pods"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"{i:04d} {rng.getrandbits(64):016x} container log line {n}\n" for n in range(rng.randint(8, 60))
        ]
        (folder / f"pod-{i:04d}.log").write_text("".join(lines))
    cases = [
        CaseResult(
            f"test_case_{n:05d}[cluster-{n % 4}]",
            "e2e",
            0.5,
            "passed" if n % 50 else "failed",
            message="boom" if n % 50 == 0 else "",
            stdout="x" * 400,
            properties={"cluster": f"cluster-{n % 4}"},
        )
        for n in range(JUNIT_CASES)
    ]
    write_junit(artifacts / "junit_01.xml", "bench", cases)
    log = root / "console.log"
    line = "2026-11-22T03:00:00Z INFO waiting for pod/runner-1 in namespace fedtest-r1 to be Running\n"
    with log.open("w") as out:
        written = 0
        while written < LOG_BYTES:
            out.write(line)
            written += len(line)
    return artifacts, log


def ours(server: FakeGCS, artifacts: Path, log: Path, build: int, workers: int) -> float:
    sink = GCSSink(BUCKET, client=server.client(), workers=workers)
    began = time.perf_counter()
    record = BuildRecord.open(
        ResultsTarget("gs", BUCKET, "logs/ours"), build_id=str(build), env={}, sink=sink, log=lambda _: None
    )
    report = record.finish(
        "SUCCESS", metadata={"job-version": "bench"}, artifacts_dir=artifacts, build_log=log
    )
    elapsed = time.perf_counter() - began
    assert not report.upload_failures, report.upload_failures[:3]
    sink.close()
    return elapsed


def baseline(server: FakeGCS, artifacts: Path, log: Path, build: int, workers: int) -> float:
    client = server.client()
    bucket = client.bucket(BUCKET)
    files = [p.relative_to(artifacts).as_posix() for p in sorted(artifacts.rglob("*")) if p.is_file()]
    began = time.perf_counter()
    results = transfer_manager.upload_many_from_filenames(
        bucket,
        files,
        source_directory=str(artifacts),
        blob_name_prefix=f"logs/tm/{build}/artifacts/",
        worker_type=transfer_manager.THREAD,
        max_workers=workers,
        raise_exception=True,
    )
    bucket.blob(f"logs/tm/{build}/build-log.txt").upload_from_filename(str(log))
    elapsed = time.perf_counter() - began
    assert all(r is None for r in results)
    client.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16, help="upload threads, the same for both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fedtest-bench-") as tmp:
        root = Path(tmp)
        artifacts, log = make_inputs(root)
        total = sum(p.stat().st_size for p in artifacts.rglob("*") if p.is_file()) + log.stat().st_size
        junit = (artifacts / "junit_01.xml").stat().st_size
        print(
            f"inputs: {SMALL_FILES} small artifacts, JUnit {junit / 2**20:.1f} MiB, "
            f"log {log.stat().st_size / 2**20:.1f} MiB, total {total / 2**20:.1f} MiB"
        )
        ours_times: list[float] = []
        base_times: list[float] = []
        contenders = [("transfer_manager", baseline, base_times), ("ours", ours, ours_times)]
        for n in range(args.rounds):
            # A fresh server for every measurement (its memory backend slows down as it fills up),
            # and the order alternates between rounds.
            for name, upload, times in contenders if n % 2 == 0 else contenders[::-1]:
                server = FakeGCS.start(root / f"server-{name}-{n}")
                try:
                    server.create_bucket(BUCKET)
                    times.append(upload(server, artifacts, log, n + 1, args.workers))
                finally:
                    server.stop()
            print(f"round {n + 1}: transfer_manager {base_times[-1]:.2f}s, ours {ours_times[-1]:.2f}s")
    ours_s, base_s = statistics.median(ours_times), statistics.median(base_times)
    print(f"median wall time: ours {ours_s:.2f}s, transfer_manager ({args.workers} threads) {base_s:.2f}s")
    ratio = ours_s / base_s
    print(f"ratio ours/transfer_manager: {ratio:.2f} (target <= {TARGET_RATIO:.2f})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
