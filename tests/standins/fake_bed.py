"""A stand-in for the bed's `outage` and `restart-control-plane` scripts, over gates (tests/standins/gate.py).

    fake_bed.py STATE outage CLUSTER on [full|network|api]   full: the data plane cut and the API frozen;
                                                              network: only the data plane; api: only the API
    fake_bed.py STATE outage CLUSTER off
    fake_bed.py STATE restart-control-plane CLUSTER           the API refuses for `restart_seconds`, then opens

Same words and exit codes as ../shared/bed (2 for bad usage), so the `existing` provider's command
settings written for the bed are the ones the tests use. Every call is appended to STATE.calls.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.standins.gate import FROZEN, OPEN, REFUSED, write_state

RESTART_SECONDS = 0.5


def api_key(cluster: str) -> str:
    return f"{cluster}:api"


def data_key(cluster: str) -> str:
    return f"{cluster}:data"


def main(argv: list[str]) -> int:
    state, verb, *args = argv
    path = Path(state)
    with open(f"{state}.calls", "a", encoding="utf-8") as calls:
        calls.write(" ".join([verb, *args]) + "\n")
    if verb == "outage" and len(args) >= 2 and args[1] == "on":
        mode = args[2] if len(args) > 2 else "full"
        if mode not in ("full", "network", "api"):
            print(f"outage: unknown mode {mode}", file=sys.stderr)
            return 2
        if mode in ("full", "network"):
            write_state(path, data_key(args[0]), REFUSED)
        if mode in ("full", "api"):
            write_state(path, api_key(args[0]), FROZEN)
        print(f"outage: {args[0]} {mode} outage on")
        return 0
    if verb == "outage" and len(args) == 2 and args[1] == "off":
        write_state(path, data_key(args[0]), OPEN)
        write_state(path, api_key(args[0]), OPEN)
        print(f"outage: {args[0]} back")
        return 0
    if verb == "restart-control-plane" and len(args) == 1:
        write_state(path, api_key(args[0]), REFUSED)
        time.sleep(RESTART_SECONDS)
        write_state(path, api_key(args[0]), OPEN)
        print(f"restart-control-plane: {args[0]} restarted")
        return 0
    print(f"fake bed: bad usage {' '.join(argv)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
