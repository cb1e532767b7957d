"""`python -m providers ...` is `fedtest ...` (list, up, down, status, janitor): see fedtest/cli.py."""

import sys

from fedtest.cli import main

sys.exit(main(prog="python -m providers"))
