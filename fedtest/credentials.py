"""The run's credentials, handed to the scrubber: whatever flag, variable or ledger named them."""

from __future__ import annotations

from pathlib import Path

from providers.ledger import Ledger
from upload.scrub import Scrubber


def hand_credentials(scrubber: Scrubber, ledger: Ledger | None, *kubeconfigs: str | Path | None) -> None:
    """What the run reaches clusters with: the kubeconfigs a flag named (whether or not $KUBECONFIG is set),
    the ones the ledger recorded (`fedtest abort` runs in another process), the clusters' own, and the
    keys in the ledger's work folder."""
    names = list(kubeconfigs)
    if ledger is not None:
        names += [ledger.options.get("kubeconfig")]
        names += [e.cluster.kubeconfig for e in ledger.entries.values() if e.cluster]
        if ledger.options.get("work_dir"):
            scrubber.add_secret_folder(Path(ledger.options["work_dir"]))
    scrubber.add_kubeconfigs(names)
