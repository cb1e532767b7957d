"""`python -m upload ...` is `fedtest ...` (publish, abort, lint): see fedtest/cli.py."""

import sys

from fedtest.cli import main

sys.exit(main(prog="python -m upload"))
