"""This repository's entry to the fedtest pytest plugin (fedtest/plugin.py).

An installed fedtest registers the plugin through its `pytest11` entry point; this file loads it only
when that did not happen (running from a checkout without `pip install -e .`, or with plugin
autoloading turned off), so it is never registered twice.
"""

import os
from importlib.metadata import entry_points

_installed = any(ep.name == "fedtest" for ep in entry_points(group="pytest11"))
if not _installed or os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
    pytest_plugins = ["fedtest.plugin"]
