"""Files already in the artifacts folder when a run opens: not this build's evidence, and not ours to delete.

The artifacts folder outlives a run (tox's `_artifacts/<env>`, a Jenkins workspace), so without care a
second run publishes the first one's cluster logs and diagnostics as its own. At open the run notes
every file already there (size, modification time, inode); at publish, the ones still unchanged are
left out of the build, and stay where they are. A file the run rewrote (junit_01.xml, ledger.json) is
its own again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

Stamp = tuple[int, int, int]


def _stamp(stat: os.stat_result) -> Stamp:
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


@dataclass(frozen=True)
class Leftovers:
    root: Path
    skip: tuple[Path, ...] = ()
    files: dict[Path, Stamp] = field(default_factory=dict)

    @classmethod
    def note(cls, root: Path, skip: tuple[Path, ...] = ()) -> Leftovers:
        """Every regular file under `root` now, except under `skip` (the results folder)."""
        found = cls(root, tuple(p.resolve() for p in skip))
        for path, stamp in found._walk():
            found.files[path] = stamp
        return found

    def _walk(self) -> list[tuple[Path, Stamp]]:
        out = []
        for folder, dirs, names in os.walk(self.root):
            here = Path(folder)
            dirs[:] = [d for d in dirs if (here / d).resolve() not in self.skip]
            for name in names:
                path = here / name
                try:
                    stat = path.stat(follow_symlinks=False)
                except OSError:
                    continue
                out.append((path, _stamp(stat)))
        return out

    def unchanged(self) -> tuple[list[Path], int]:
        """What to leave out of the build: whole folders where every file is an unchanged leftover,
        else single files; and how many files that is."""
        if not self.files:
            return [], 0
        stale: dict[Path, bool] = {}  # per folder: every file under it is an unchanged leftover
        files: list[Path] = []
        for path, stamp in self._walk():
            old = self.files.get(path) == stamp
            if old:
                files.append(path)
            for parent in path.parents:
                if parent == self.root.parent or not parent.is_relative_to(self.root):
                    break
                stale[parent] = stale.get(parent, True) and old
        excluded: list[Path] = []
        for path in files:
            top = path
            for parent in path.parents:
                if parent == self.root or not stale.get(parent, False):
                    break
                top = parent
            if top not in excluded:
                excluded.append(top)
        return excluded, len(files)
