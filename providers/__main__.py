"""`python -m providers list|up|down|status`: cluster sets outside pytest, and after a crash."""

from __future__ import annotations

import sys

from providers.cli import main

if __name__ == "__main__":
    sys.exit(main())
