"""The one way into the artifacts folder, and the one way to write into it or into a local results folder.

Paths below a folder are walked one name at a time from a directory descriptor, each name opened with
O_NOFOLLOW: a symlink anywhere below the folder (file, folder or a part swapped in later) is never
followed. Files are opened O_NONBLOCK (a FIFO swapped in cannot block) and fstat'ed: only regular files are
read. What a plan saw (device, inode) is what the upload reads, from the descriptor it checked; a file
replaced since it was planned is refused. Writes go to a short temporary name (it always fits NAME_MAX,
whatever the target's length) created O_EXCL|O_NOFOLLOW, then are linked (write-once) or renamed into
place relative to the folder's descriptor. Only the folder a caller names is resolved as a path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
READ_CHUNK = 1 << 20


class Refused(OSError):
    """A path that is not read or written: a link, not a regular file, or changed since it was planned."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(errno.EPERM, problem, where)
        self.where = where
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(frozen=True)
class Identity:
    """Which file (device, inode) a plan saw, and its size then."""

    device: int
    inode: int
    size: int = 0

    @classmethod
    def of(cls, info: os.stat_result) -> Identity:
        return cls(info.st_dev, info.st_ino, info.st_size)

    def same_file(self, info: os.stat_result) -> bool:
        return (self.device, self.inode) == (info.st_dev, info.st_ino)


def kind_of(mode: int) -> str:
    """What a non-regular entry is, in words."""
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _open_below(dir_fd: int, name: str, flags: int, where: str) -> int:
    """Open one name relative to `dir_fd`, never through a link."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW on a link: ELOOP (EMLINK on some BSDs)
            raise Refused(where, "a symlink: not followed") from err
        if err.errno == errno.ENOTDIR and flags & os.O_DIRECTORY:
            info = _lstat_or_none(dir_fd, name)
            what = kind_of(info.st_mode) if info else "not a folder"
            raise Refused(where, f"{what} where a folder was: not followed") from err
        raise


def _lstat_or_none(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


class _Held:
    """Something that owns an open descriptor `fd`: closed once by close() or at the end of a `with`."""

    fd: int

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Folder(_Held):
    """A folder held by its descriptor; every name below it is opened through here. Close it (or use `with`)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def open(cls, path: Path | str, create: bool = False) -> Folder:
        """The folder a caller names (the only path resolved as given); `create` makes it first."""
        path = Path(path)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), path)

    def identity(self) -> Identity:
        return Identity.of(os.fstat(self.fd))

    # --- reading -------------------------------------------------------------------------------
    def subfolder(self, parts: Sequence[str], create: bool = False) -> Folder:
        """The folder at `parts` below this one, each part opened without following links."""
        fd = os.dup(self.fd)
        try:
            for i, part in enumerate(parts):
                where = str(self.path.joinpath(*parts[: i + 1]))
                try:
                    child = _open_below(fd, part, DIR_FLAGS, where)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):  # another writer made it meanwhile
                        os.mkdir(part, 0o755, dir_fd=fd)
                    child = _open_below(fd, part, DIR_FLAGS, where)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return Folder(fd, self.path.joinpath(*parts))

    def entries(self) -> list[tuple[str, os.stat_result]]:
        """(name, lstat) of each entry, sorted by name; links are reported, never followed."""
        found = []
        with os.scandir(self.fd) as listing:
            for entry in listing:
                with contextlib.suppress(FileNotFoundError):  # gone since the listing: nothing to read
                    found.append((entry.name, entry.stat(follow_symlinks=False)))
        return sorted(found, key=lambda item: item[0])

    def open_file(self, parts: Sequence[str], planned: Identity | None = None) -> int:
        """A descriptor of the regular file at `parts` (the planned one, when given). The caller closes it."""
        *folders, name = parts
        where = str(self.path.joinpath(*parts))
        with self.subfolder(folders) as parent:
            fd = _open_below(parent.fd, name, FILE_FLAGS, where)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Refused(where, f"{kind_of(info.st_mode)}, not a regular file: not read")
            if planned is not None and not planned.same_file(info):
                raise Refused(where, "replaced since the upload was planned: not read")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read(self, parts: Sequence[str], planned: Identity | None = None, limit: int | None = None) -> bytes:
        """The bytes of a regular file below the folder (at most `limit`)."""
        fd = self.open_file(parts, planned)
        try:
            return read_fd(fd, limit)
        finally:
            os.close(fd)

    def walk(self) -> Iterator[tuple[tuple[str, ...], os.stat_result | OSError, Folder | None]]:
        """(parts, lstat, the folder holding it) for every entry below, a folder's entries in name order.
        Each subfolder is opened again from here, part by part, and only if it is still the folder its
        listing saw; a folder that cannot be opened or listed comes as (parts, the error, None)."""
        pending: list[tuple[tuple[str, ...], Identity | None]] = [((), None)]
        while pending:
            parts, seen = pending.pop(0)
            try:
                folder = self.subfolder(parts)
            except OSError as err:
                yield parts, err, None
                continue
            try:
                if seen is not None and not seen.same_file(os.fstat(folder.fd)):
                    yield parts, Refused(str(folder.path), "replaced since it was listed: not read"), None
                    continue
                try:
                    listing = folder.entries()
                except OSError as err:
                    yield parts, err, None
                    continue
                for name, info in listing:
                    relative = (*parts, name)
                    yield relative, info, folder
                    if stat.S_ISDIR(info.st_mode):
                        pending.append((relative, Identity.of(info)))
            finally:
                folder.close()

    # --- writing -------------------------------------------------------------------------------
    def _stage(self, chunks: Iterator[bytes] | Sequence[bytes]) -> str:
        """Write the bytes to a new short name in this folder (O_EXCL|O_NOFOLLOW); returns the name."""
        name = f".fedtest-{secrets.token_hex(8)}.tmp"
        fd = os.open(name, NEW_FLAGS, 0o644, dir_fd=self.fd)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self.fd)
            raise
        os.close(fd)
        return name

    def create(self, name: str, chunks: Iterator[bytes] | Sequence[bytes]) -> None:
        """A new file `name` with these bytes, all or nothing; FileExistsError when the name is taken."""
        staged = self._stage(chunks)
        try:
            os.link(staged, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(staged, dir_fd=self.fd)

    def replace(self, name: str, chunks: Iterator[bytes] | Sequence[bytes]) -> None:
        """`name` now holds these bytes (atomically); a link at `name` is replaced, never written through."""
        staged = self._stage(chunks)
        try:
            os.replace(staged, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(staged, dir_fd=self.fd)
            raise

    def open_new(self, name: str) -> int:
        """A fresh file `name` to append to (the build log): whatever was at the name (a link, an old log) is
        removed first, so nothing is ever written through a link. The caller closes the descriptor."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.fd)
        return os.open(name, NEW_FLAGS | os.O_APPEND, 0o644, dir_fd=self.fd)


def read_fd(fd: int, limit: int | None = None) -> bytes:
    """What a descriptor holds, at most `limit` bytes, and never more than its size when read began: a file
    that keeps growing cannot keep the upload reading."""
    size = os.fstat(fd).st_size
    want = size if limit is None else min(size, limit)
    pieces, got = [], 0
    while got < want:
        piece = os.read(fd, min(READ_CHUNK, want - got))
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)


class Reader(_Held):
    """A descriptor read as a binary file, at most `limit` bytes and never more than its size when reading
    began (a file that keeps growing cannot keep an upload reading); closing it closes the descriptor."""

    def __init__(self, fd: int, limit: int | None = None) -> None:
        size = os.fstat(fd).st_size
        self.fd, self.left = fd, size if limit is None else min(size, limit)

    def read(self, size: int | None = -1) -> bytes:
        """At most `size` bytes (all that is left when negative); b"" at the end."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_CHUNK), b""))
        want = min(size, self.left)
        if want <= 0 or self.fd < 0:
            return b""
        piece = os.read(self.fd, want)
        self.left = self.left - len(piece) if piece else 0
        return piece



def split(path: Path | str) -> tuple[Path, str]:
    """(the folder, the name) of a path a caller gave."""
    path = Path(path)
    return path.parent, path.name


def open_path(path: Path | str) -> int:
    """A descriptor of the regular file a caller named (the build log, a document), its last part never
    followed. The caller closes it."""
    parent, name = split(path)
    with Folder.open(parent) as folder:
        return folder.open_file([name])


def read_path(path: Path | str, limit: int | None = None) -> bytes:
    """The bytes of a regular file a caller named, its last part never followed."""
    fd = open_path(path)
    try:
        return read_fd(fd, limit)
    finally:
        os.close(fd)


def lstat_path(path: Path | str) -> os.stat_result | None:
    """What is at a path, links not followed; None when nothing is."""
    try:
        return os.lstat(path)
    except OSError:
        return None


def write_path(path: Path | str, data: bytes) -> Path:
    """Atomically replace the file at `path` (its folder created), never writing through a link."""
    parent, name = split(path)
    with Folder.open(parent, create=True) as folder:
        folder.replace(name, [data])
    return Path(path)


def open_log(path: Path | str) -> int:
    """A fresh file at `path` to append the run's log to (see Folder.open_new)."""
    parent, name = split(path)
    with Folder.open(parent, create=True) as folder:
        return folder.open_new(name)


@dataclass(frozen=True)
class Planned:
    """One file an upload plans to read: the folder it lies in (as named), its parts below it, and which
    file it was. Reading it opens the same parts again, without links, and only if it is still that file."""

    root: Path
    parts: tuple[str, ...]
    identity: Identity

    @property
    def size(self) -> int:
        return self.identity.size

    @property
    def where(self) -> str:
        return str(self.root.joinpath(*self.parts))

    def open(self) -> int:
        """A descriptor of the planned file (Refused when it is gone, a link, or another file now)."""
        with Folder.open(self.root) as folder:
            return folder.open_file(self.parts, self.identity)

    def reader(self) -> Reader:
        """The planned file as a binary file read from the descriptor its check passed on, never past the
        size the plan saw (for streaming it; the caller closes it)."""
        return Reader(self.open(), self.size)

    def read(self, limit: int | None = None) -> bytes:
        fd = self.open()
        try:
            return read_fd(fd, limit)
        finally:
            os.close(fd)
