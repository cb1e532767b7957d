"""The kind provider (not implemented yet: registered so it is listed and fails with one line)."""

from __future__ import annotations

from providers.base import Provider


class KindProvider(Provider):
    name = "kind"
    implemented = False
