"""`fedtest grid`: the dashboards TestGrid would show for a results tree, as a static site."""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from dashboard_config import config as testgrid_config
from dashboard_config.grid import model, site
from dashboard_config.grid.tree import LocalTree, open_trees
from upload.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = "_artifacts/e2e-kind"
DEFAULT_OUT = "_artifacts/grid"
DEFAULT_PORT = 8080
RESULTS_PATH = "/results"

DESCRIPTION = """\
Read a results tree in the test-history layout (the folder `tox -e e2e-kind` writes, or a GCS bucket)
and the TestGrid config, and write the dashboards TestGrid would show as a static site: a summary page
per dashboard and a grid per tab (tests by builds, newest first), by TestGrid's own rules. The pages
need no network: open OUT/index.html from disk, or pass --serve."""


def add_parser(sub) -> None:
    """Add the `grid` subcommand to an argparse subparsers object."""
    p = sub.add_parser(
        "grid",
        help="write an offline preview of the TestGrid dashboards for a results tree",
        description=DESCRIPTION,
    )
    p.add_argument(
        "--results",
        action="append",
        default=None,
        metavar="[BUCKET=]DIR|gs://BUCKET[/FOLDER]",
        help="where a bucket's results are: a folder or GCS location holding logs/<job>/<build>/. TestGrid "
        "reads each test group from the bucket in its gcs_prefix; BUCKET=... says where that bucket is "
        "(repeat for each organisation's bucket), a value without BUCKET= stands for every other bucket. "
        f"STORAGE_EMULATOR_HOST selects a GCS emulator (default: {DEFAULT_RESULTS}, where `tox -e e2e-kind` writes)",
    )
    p.add_argument(
        "--link-base",
        default=None,
        metavar="URL",
        help="make build-log and artifact links URL/<bucket-relative path> (where the results are served or "
        "published); by default links to local results are relative to the pages, so a copied site keeps "
        "working with the results beside it",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=CONFIG_DIR,
        metavar="DIR",
        help="folder of TestGrid YAML with test_groups and dashboards (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path(DEFAULT_OUT),
        metavar="DIR",
        help="folder to write the site into; existing pages are overwritten (default: %(default)s)",
    )
    p.add_argument(
        "--days",
        type=float,
        default=None,
        metavar="N",
        help="show builds started in the last N days (default: each test group's days_of_results, 7 when unset)",
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help="after writing, serve the site (and a local results folder under /results) on 127.0.0.1 "
        "until interrupted (default: off)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port for --serve on 127.0.0.1; 0 picks a free one (default: %(default)s)",
    )
    p.set_defaults(run=run)


def build(args: argparse.Namespace, now: float | None = None) -> tuple[Path, list[model.Dashboard]]:
    """Read the config and the results, write the site; returns the index page and the dashboards."""
    if args.days is not None and args.days <= 0:
        raise ConfigError(f"--days {args.days:g} is not positive", "pass a number of days above 0")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file", "pass a folder for the site")
    config = testgrid_config.load(args.config)
    link_base = getattr(args, "link_base", None) or (RESULTS_PATH if args.serve else None)
    trees = open_trees(results_entries(args), link_base)
    for tree in trees.all():
        tree.page_dir = args.out.resolve() / "dashboard"  # every grid page sits one folder below --out
    dashboards = model.build_dashboards(config, trees, args.days, now)
    try:
        index = site.write_site(dashboards, args.out, ", ".join(t.url for t in trees.all()))
    except OSError as error:
        raise ConfigError(
            f"cannot write the site to {args.out}: {error.strerror or error}", "pass --out DIR"
        ) from error
    return index, dashboards


def results_entries(args: argparse.Namespace) -> list[str]:
    value = args.results
    if value is None:
        return [DEFAULT_RESULTS]
    return [value] if isinstance(value, str) else list(value)


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """The site at /, local results folders at /results/ (a mapped bucket's at /results/<bucket>/); quiet."""

    results: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        route = unquote(urlparse(path).path)
        if self.results and (route == RESULTS_PATH or route.startswith(RESULTS_PATH + "/")):
            inner = route[len(RESULTS_PATH) :].lstrip("/")
            bucket, _, rest = inner.partition("/")
            root = self.results.get(bucket)
            if root is None:
                root, rest = self.results.get("", Path("/nonexistent")), inner
            target = (root / rest).resolve()
            return str(target) if target.is_relative_to(root.resolve()) else str(root)
        return super().translate_path(path)

    def log_message(self, format: str, *args) -> None:
        pass


def serve(out: Path, results: dict[str, Path], port: int) -> http.server.ThreadingHTTPServer:
    handler = type("Handler", (SiteHandler,), {"results": results})
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(out)))
    except OSError as error:
        raise ConfigError(
            f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}", "pass another --port"
        ) from error


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    index, dashboards = build(args)
    tabs = [tab for d in dashboards for tab in d.tabs]
    for tab in tabs:
        if tab.problem.startswith("TestGrid's updater would crash"):
            print(f"fedtest: grid: {tab.dashboard} / {tab.name}: {tab.problem}", file=sys.stderr)
    builds = sum(len(tab.columns) for tab in tabs)
    print(
        f"fedtest: grid: {len(dashboards)} dashboards, {len(tabs)} tabs, {builds} build columns "
        f"in {time.monotonic() - began:.1f} s: {index.resolve().as_uri()}"
    )
    if not args.serve:
        return 0
    trees = open_trees(results_entries(args))
    results = {bucket: tree.root.resolve() for bucket, tree in trees.items() if isinstance(tree, LocalTree)}
    server = serve(args.out, results, args.port)
    print(f"fedtest: grid: serving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
