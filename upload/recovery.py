"""`fedtest reset-latest`: point a job's latest-build.txt back at its newest complete build.

A latest-build.txt holding junk, a huge file, an id above 2^53-1 or a folder makes fedtest refuse every
new build of the job (ids must increase past it). This resets it to the highest build id that has
finished.json (ids that readers cannot hold exactly are ignored), or removes it when the job has no
complete build. Only latest-build.txt is written; builds are never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import os

from upload import layout, sealed
from upload.errors import ConfigError
from upload.latest import MAX_LATEST_BYTES, latest_problem, read_head
from upload.record import ResultsTarget, parse_results
from upload.scrub import Scrubber
from upload.sinks import NO_CACHE, GCSSink, Sink


def _usable_id(name: str) -> int | None:
    try:
        return int(layout.check_build_id(name))
    except ConfigError:
        return None


def _newest_complete(sink: Sink, job_prefix: str) -> int | None:
    """The highest usable build id of the job whose folder holds finished.json."""
    local = sink.local_path(job_prefix)
    if local is not None:
        folders = [p.name for p in local.iterdir() if p.is_dir()] if local.is_dir() else []
    elif isinstance(sink, GCSSink):
        listing = sink.client.list_blobs(sink.bucket_name, prefix=f"{job_prefix}/", delimiter="/", retry=sink.retry)
        for _page in listing.pages:
            pass  # the prefixes (build folders) fill in as the pages are read
        folders = [p[len(job_prefix) + 1 :].rstrip("/") for p in listing.prefixes]
    else:
        raise ConfigError(f"cannot list builds in {sink.url}", "use a gs:// URL or a folder")
    for build in sorted((i for f in folders if (i := _usable_id(f))), reverse=True):
        finished = f"{job_prefix}/{build}/{layout.FINISHED}"
        if local is not None:
            if (local / str(build) / layout.FINISHED).is_file():
                return build
        elif sink.bucket.blob(finished).exists(retry=sink.retry, timeout=sink.timeout):  # type: ignore[attr-defined]
            return build
    return None


def _remove(sink: Sink, key: str) -> None:
    local = sink.local_path(key)
    if local is not None:
        if local.is_dir():
            try:
                local.rmdir()
            except OSError as err:
                raise ConfigError(f"{local} is a folder with files in it", "move it away, then run again") from err
        else:
            local.unlink(missing_ok=True)
    elif isinstance(sink, GCSSink):
        from google.api_core import exceptions as api

        with contextlib.suppress(api.NotFound):
            sink.bucket.blob(key).delete(retry=sink.retry, timeout=sink.timeout)


def reset_latest(target: ResultsTarget, sink: Sink | None = None, dry_run: bool = False) -> str:
    """Set latest-build.txt to the newest complete build (or remove it: no complete build); what it did."""
    sink = sink or target.sink()
    key = f"{target.job_prefix}/{layout.LATEST_BUILD}"
    where = f"{sink.url.rstrip('/')}/{key}"
    try:
        before = read_head(sink, key, MAX_LATEST_BYTES + 1)
        said = "missing" if before is None else f"said {before.strip()[:20].decode('utf-8', 'replace')!r}"
        if before is not None and latest_problem(before):
            said += " (unusable)"
    except IsADirectoryError:
        said = "was a folder"
    newest = _newest_complete(sink, target.job_prefix)
    would = "would be " if dry_run else ""
    if newest is None:
        if not dry_run:
            _remove(sink, key)
        return f"{where}: no complete build of job {target.job}: {would}removed ({said}); the next build writes it"
    if not dry_run:
        local = sink.local_path(key)
        if local is not None and local.is_dir():
            _remove(sink, key)
        sink.replace(key, sealed.scrub_text(Scrubber(), f"{newest}\n"), "text/plain", NO_CACHE)
    return f"{where} {would}set to {newest}, the newest complete build ({said})"


HELP = "reset a job's latest-build.txt to its newest complete build"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `reset-latest` to a CLI's subcommands; args.run(args) runs it and returns the exit code."""
    parser = sub.add_parser(
        "reset-latest",
        help=HELP,
        description=f"{__doc__}\nExit codes: 0 reset (or removed), 2 bad input or the results target could not "
        "be read or written.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--results", required=True, help="the job's results: gs://bucket/logs/<job>, gs://bucket with --job, a folder "
        "(no default)"
    )
    parser.add_argument("--job", default=os.environ.get("JOB_NAME") or None, help="job name (default: $JOB_NAME)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be written; write nothing "
                        "(default: write)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    print(reset_latest(parse_results(args.results, args.job), dry_run=args.dry_run))
    return 0


