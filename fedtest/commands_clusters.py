"""`fedtest list|up|down|status|janitor`: cluster sets outside pytest, and after a crash."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from fedtest import clusters as cluster_steps
from fedtest.errors import EXIT_FAILED, EXIT_OK
from fedtest.progress import Progress
from fedtest.steps import StepResult
from providers import ledger as ledger_mod
from providers import options as options_mod
from providers import registry
from providers.base import ConfigError, Provider

ARTIFACTS_HELP = "the run's artifacts folder, which holds ledger.json (default: %(default)s)"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="registered providers, whether they load in this interpreter and can run on "
                                    "this machine (kind: kind and a container engine), and each one's settings "
                                    "(--provider-opt KEY=VALUE)")
    p.set_defaults(run=_list)

    up = sub.add_parser("up", help="bring a cluster set up and write the ledger (what pytest --provider does)")
    up.add_argument("--provider", required=True, help="provider name (see `fedtest list`)")
    up.add_argument("--clusters", type=int, default=None,
                    help="how many clusters (default 1; existing: one per context)")
    up.add_argument("--kubeconfig", help="kubeconfig for --provider existing (default $KUBECONFIG)")
    up.add_argument("--contexts", help="comma-separated contexts for --provider existing")
    up.add_argument("--k8s-version", help="Kubernetes version, e.g. 1.31 (default: the provider's)")
    up.add_argument("--provider-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="provider setting, repeatable (see `fedtest list`)")
    up.add_argument("--deadline", type=float, default=600.0,
                    help="seconds each cluster may take to come up (default %(default)s)")
    up.add_argument("--work-dir", help="kubeconfigs and keys, never published (default: under the temp dir)")
    up.add_argument("--artifacts", default="_artifacts", help="where ledger.json goes (default: %(default)s)")
    up.set_defaults(run=_up)

    for verb, text, command in (("down", "tear down every cluster the ledger does not know to be down", _down),
                                ("status", "each cluster of the ledger: its state, and whether it answers", _status)):
        p = sub.add_parser(verb, help=text)
        p.add_argument("--artifacts", default="_artifacts", help=ARTIFACTS_HELP)
        p.set_defaults(run=command)

    janitor = sub.add_parser("janitor", help="delete cloud resources whose fedtest-expires tag has passed")
    janitor.add_argument("--provider", required=True, help="a cloud provider (azure, gce, ...)")
    janitor.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    janitor.add_argument("--provider-opt", action="append", default=[], metavar="KEY=VALUE",
                         help="provider setting, e.g. project=my-project (repeatable)")
    janitor.set_defaults(run=_janitor)


def _list(args: argparse.Namespace) -> int:
    names = registry.names()
    print(f"providers registered for {sys.executable}:")
    broken = 0
    for name in names:
        try:
            rows = registry.settings_help(name)
        except ConfigError as err:
            broken += 1
            print(f"  {name:<12} broken: {err}")
            continue
        ok, said = registry.runs_here(registry.load(name))
        print(f"  {name:<12} {'ok' if ok else 'cannot run here:'}{f' ({said})' if ok and said else ''}"
              f"{'' if ok else ' ' + said}")
        for row in rows:  # from the provider's own declarations: --provider-opt KEY=VALUE
            default = f", default {row.default}" if row.default else ""
            print(f"      {row.key} ({row.type_name}{default}): {row.help}")
    return EXIT_FAILED if broken else EXIT_OK


def provider_from_ledger(ledger: ledger_mod.Ledger) -> Provider:
    """The provider as the run built it: its recorded settings and work dir (so kubeconfigs are found)."""
    cls = registry.load(ledger.provider)
    o = ledger.options
    extra = [str(pair) for pair in o.get("settings") or []]
    opts = options_mod.build(
        run_id=ledger.run_id, kubeconfig=o.get("kubeconfig"), contexts=",".join(o.get("contexts") or []) or None,
        k8s_version=o.get("k8s_version"), image_registry=o.get("image_registry"), extra=extra,
        work_dir=o.get("work_dir"), deadline_seconds=float(o.get("deadline_seconds") or 600.0),
    )
    return cls(opts)


def _report(results: list[StepResult], verb: str) -> int:
    for r in results:
        print(f"{r.name}: {verb if r.ok else 'FAILED: ' + r.error} ({r.seconds:.1f}s)")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _up(args: argparse.Namespace) -> int:
    cls = registry.load(args.provider)
    run_id = options_mod.new_run_id()
    opts = options_mod.build(
        run_id=run_id, kubeconfig=args.kubeconfig, contexts=args.contexts, k8s_version=args.k8s_version,
        extra=args.provider_opt, work_dir=args.work_dir, deadline_seconds=args.deadline,
    )
    provider = cls(opts)
    specs = provider.plan(args.clusters)
    ledger = ledger_mod.Ledger.create(Path(args.artifacts), run_id, provider.name, options=opts,
                                      settings=registry.settings_pairs(provider))
    results: list[StepResult] = []
    progress = Progress(lambda line: print(line, flush=True))
    try:
        cluster_steps.bring_up(provider, specs, ledger, progress, results)
    except KeyboardInterrupt:
        print(f"fedtest: interrupted: `fedtest down --artifacts {args.artifacts}` tears down what the ledger lists",
              file=sys.stderr)
        raise
    finally:
        progress.close()
    code = _report(results, "up")
    print(f"ledger: {ledger.path}")
    return code


def _down(args: argparse.Namespace) -> int:
    ledger = ledger_mod.Ledger.load(Path(args.artifacts))
    provider = provider_from_ledger(ledger)
    results: list[StepResult] = []
    progress = Progress(lambda line: print(line, flush=True))
    try:
        cluster_steps.tear_down(provider, ledger, provider.options.work_dir, progress, results)
    finally:
        progress.close()
    if not results:
        print(f"nothing to tear down: every cluster in {ledger.path} is down")
    return _report(results, "down")


def _status(args: argparse.Namespace) -> int:
    ledger = ledger_mod.Ledger.load(Path(args.artifacts))
    provider = provider_from_ledger(ledger)
    for entry in sorted(ledger.entries.values(), key=lambda e: e.index):
        live = ""
        if entry.state == ledger_mod.UP and entry.cluster is not None:
            live = " (answering)" if provider.is_up(entry.cluster) else " (NOT answering)"
        print(f"{entry.name:<24} {entry.state}{live}{'  ' + entry.error if entry.error else ''}")
    return EXIT_OK


def _janitor(args: argparse.Namespace) -> int:
    """Sweep expired resources of any provider (its `sweep` verb); live runs' resources are never touched."""
    cls = registry.load(args.provider)
    opts = options_mod.build(run_id=f"janitor-{options_mod.new_run_id()}", extra=args.provider_opt)
    swept = registry.sweeper(cls(opts)).sweep(dt.datetime.now(dt.UTC), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for item in swept:
        print(f"{verb}: {item}")
    print(f"{args.provider} janitor: {len(swept)} expired {'item' if len(swept) == 1 else 'items'} {verb}")
    return EXIT_OK
