"""`python -m upload`: see upload/cli.py."""

import sys

from upload.cli import main

sys.exit(main())
