"""The providers CLI. Every user error is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from providers import clusterset, registry
from providers import ledger as ledger_mod
from providers import options as options_mod
from providers.base import Provider, ProviderError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m providers", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("list", help="registered providers and whether they are implemented")

    up = sub.add_parser("up", help="bring a cluster set up and write the ledger")
    up.add_argument("--provider", required=True)
    up.add_argument("--clusters", type=int, default=None)
    up.add_argument("--kubeconfig")
    up.add_argument("--contexts")
    up.add_argument("--k8s-version")
    up.add_argument("--provider-opt", action="append", default=[], metavar="KEY=VALUE")
    up.add_argument("--deadline", type=float, default=600.0, help="seconds to wait for each API server")
    up.add_argument("--work-dir")
    up.add_argument("--artifacts", default="_artifacts")

    for verb, text in (("down", "tear down what the ledger lists"), ("status", "is each cluster up?")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("--artifacts", default="_artifacts", help="the run's artifacts folder (holds ledger.json)")

    janitor = sub.add_parser("janitor", help="delete cloud resources whose fedtest-expires tag has passed")
    janitor.add_argument("--provider", required=True)
    janitor.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    janitor.add_argument("--provider-opt", action="append", default=[], metavar="KEY=VALUE")
    return parser


def _provider_for(ledger: ledger_mod.Ledger) -> Provider:
    cls = registry.load(ledger.provider)
    opts = options_mod.build(run_id=ledger.run_id, work_dir=None)
    return cls(opts)


def _list() -> int:
    for name in registry.names():
        try:
            registry.load(name)
            state = "ok"
        except ProviderError as err:
            state = f"broken: {err}"
        print(f"{name:<12} {state}")
    return 0


def _up(args: argparse.Namespace) -> int:
    cls = registry.load(args.provider)
    run_id = options_mod.new_run_id()
    opts = options_mod.build(
        run_id=run_id, kubeconfig=args.kubeconfig, contexts=args.contexts, k8s_version=args.k8s_version,
        extra=args.provider_opt, work_dir=args.work_dir, deadline_seconds=args.deadline,
    )
    provider = cls(opts)
    specs = provider.plan(args.clusters)
    ledger = ledger_mod.Ledger.create(Path(args.artifacts), run_id, provider.name)
    results = clusterset.bring_up(provider, specs, ledger)
    for r in results:
        state = "up" if r.ok else f"FAILED: {r.error}"
        print(f"{r.name}: {state} ({r.seconds:.1f}s)")
    print(f"ledger: {ledger.path}")
    return 0 if all(r.ok for r in results) else 1


def _down(args: argparse.Namespace) -> int:
    ledger = ledger_mod.Ledger.load(Path(args.artifacts))
    provider = _provider_for(ledger)
    results = clusterset.tear_down(provider, ledger, provider.options.work_dir)
    for r in results:
        print(f"{r.name}: {'down' if r.ok else 'FAILED: ' + r.error} ({r.seconds:.1f}s)")
    if not results:
        print(f"nothing to tear down: every cluster in {ledger.path} is down")
    return 0 if all(r.ok for r in results) else 1


def _status(args: argparse.Namespace) -> int:
    ledger = ledger_mod.Ledger.load(Path(args.artifacts))
    provider = _provider_for(ledger)
    for entry in sorted(ledger.entries.values(), key=lambda e: e.index):
        live = ""
        if entry.state == ledger_mod.UP and entry.cluster is not None:
            live = " (answering)" if provider.is_up(entry.cluster) else " (NOT answering)"
        print(f"{entry.name:<24} {entry.state}{live}{'  ' + entry.error if entry.error else ''}")
    return 0


def _janitor(args: argparse.Namespace) -> int:
    """Sweep expired resources of any provider (its `sweep` verb); live runs' resources are never touched."""
    cls = registry.load(args.provider)
    opts = options_mod.build(run_id=f"janitor-{options_mod.new_run_id()}", extra=args.provider_opt)
    swept = registry.sweeper(cls(opts)).sweep(dt.datetime.now(dt.UTC), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for item in swept:
        print(f"{verb}: {item}")
    print(f"{args.provider} janitor: {len(swept)} expired {'item' if len(swept) == 1 else 'items'} {verb}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.verb == "list":
            return _list()
        if args.verb == "up":
            return _up(args)
        if args.verb == "down":
            return _down(args)
        if args.verb == "janitor":
            return _janitor(args)
        return _status(args)
    except ProviderError as err:
        print(f"fedtest: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("fedtest: interrupted: run `python -m providers down` to tear down what the ledger lists",
              file=sys.stderr)
        return 130
