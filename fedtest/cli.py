"""`fedtest`: cluster sets, results and the dashboard config from one command.

The e2e suite itself runs under pytest (`pytest e2e --provider kind ...`, or `tox -e e2e-kind`); this
command does the rest: cluster sets outside pytest and after a crash (list, up, down, status, janitor),
results made by any tool (publish, abort, lint), a job blocked by a broken latest-build.txt
(reset-latest), and the dashboard: the TestGrid config (check-dashboard) and an offline preview of
the grid TestGrid will show (grid).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from fedtest.errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    FedtestError,
    one_line,
)

Command = Callable[[argparse.Namespace], int]


class UsageError(FedtestError):
    """Bad arguments: argparse's complaint as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, f"see `{self.prog} --help`")


def exit_codes_epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())


def build_parser(prog: str = "fedtest") -> argparse.ArgumentParser:
    from fedtest import commands_clusters, commands_results

    parser = _Parser(prog=prog, description=__doc__, epilog=exit_codes_epilog(),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for module in (commands_clusters, commands_results):
        module.add_parsers(sub)
    for add_parser in _extra_commands():
        add_parser(sub)
    return parser


def _extra_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Commands that live beside the packages they serve (dashboard_config)."""
    from dashboard_config.cli import add_parser as add_check_dashboard
    from dashboard_config.grid.cli import add_parser as add_grid
    from upload.recovery import add_parser as add_reset_latest

    return [add_reset_latest, add_check_dashboard, add_grid]


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse and run one command: every failure is one `fedtest: error: ...` line and a documented exit code."""
    try:
        args = parser.parse_args(argv)
        command: Command = args.run
        return command(args)
    except FedtestError as err:
        print(f"fedtest: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("fedtest: error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # a defect must still be one line, never a traceback
        print(f"fedtest: error: unexpected {one_line(err)} (a defect in fedtest: please report it)",
              file=sys.stderr)
        return EXIT_UNEXPECTED


def main(argv: Sequence[str] | None = None, prog: str = "fedtest") -> int:
    try:
        parser = build_parser(prog)
    except ImportError as err:  # run by an interpreter fedtest is not installed in
        print(f"fedtest: error: fedtest's dependencies are missing from {sys.executable} ({err}): run the fedtest "
              "of the virtualenv it is installed in (e.g. .tox/e2e-kind/bin/fedtest), or pip install -e . there",
              file=sys.stderr)
        return EXIT_USAGE
    except FedtestError as err:  # e.g. a broken installation
        print(f"fedtest: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
