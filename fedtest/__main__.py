"""`python -m fedtest` is the `fedtest` command, for an interpreter whose scripts folder is not on PATH."""

import sys

from fedtest.cli import main

sys.exit(main(prog="python -m fedtest"))
