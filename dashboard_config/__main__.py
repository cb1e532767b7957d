import sys

from dashboard_config.cli import main

sys.exit(main())
