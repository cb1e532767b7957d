"""Reading a results tree in the test-history layout: a local folder or a GCS bucket (emulator included).

Keys are bucket-relative ("logs/<job>/<build>/started.json"); a folder holds the same layout as a bucket
(upload/record.py writes both). `open_tree("gs://bucket")` talks to GCS through google-cloud-storage,
which honours STORAGE_EMULATOR_HOST.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlparse

from upload.errors import ConfigError, SinkError
from upload.sinks import GCSSink


class ReadError(Exception):
    """An object that exists but could not be read: its build becomes a "Failed to download" column."""


class LocalTree:
    """The bucket layout under a folder.

    Links are under `link_base` when given (a web server, or where the results are published), else
    relative to `page_dir` (the folder the pages are written in), so a copied site keeps working as long as
    the results sit at the same place next to it; file:// URLs only when neither is known.
    """

    def __init__(self, root: Path, link_base: str | None = None) -> None:
        self.root = root
        self.url = str(root)
        self.link_base = link_base.rstrip("/") if link_base else None
        self.page_dir: Path | None = None

    def folders(self, prefix: str) -> list[str]:
        base = self.root / prefix
        try:
            return sorted(p.name for p in base.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []
        except OSError as error:
            raise ReadError(f"cannot list {base}: {error.strerror or error}") from error

    def files(self, prefix: str) -> list[str]:
        base = self.root / prefix
        try:
            return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        except OSError as error:
            raise ReadError(f"cannot list {base}: {error.strerror or error}") from error

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ReadError(f"cannot read {path}: {error.strerror or error}") from error

    def link(self, key: str, folder: bool = False) -> str:
        if self.link_base is not None:
            return f"{self.link_base}/{quote(key)}" + ("/" if folder else "")
        if self.page_dir is not None:
            relative = os.path.relpath((self.root / key).resolve(), self.page_dir.resolve())
            return quote(Path(relative).as_posix()) + ("/" if folder else "")
        return (self.root / key).resolve().as_uri() + ("/" if folder else "")


class GCSTree:
    """A bucket (or a folder of one) read through google-cloud-storage."""

    def __init__(self, bucket: str, root: str = "", client=None, link_base: str | None = None) -> None:
        from google.api_core import exceptions

        self.exceptions = exceptions
        self.bucket_name = bucket
        self.root = root.strip("/")
        self.url = f"gs://{bucket}/{self.root}".rstrip("/")
        self.client = client or GCSSink.default_client()
        self.bucket = self.client.bucket(bucket)
        self.emulator = os.environ.get("STORAGE_EMULATOR_HOST", "").rstrip("/")
        self.link_base = link_base.rstrip("/") if link_base else None
        self.page_dir: Path | None = None

    def _key(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def _failed(self, action: str, key: str, error: Exception) -> SinkError:
        where = f"gs://{self.bucket_name}/{self._key(key)}"
        if isinstance(error, self.exceptions.NotFound):
            return SinkError(f"bucket {self.bucket_name!r} does not exist ({action} {where})", "fix --results")
        if isinstance(error, (self.exceptions.Forbidden, self.exceptions.Unauthorized)):
            return SinkError(f"no access to {where} ({action})", "use credentials that may list and read the bucket")
        return SinkError(f"cannot {action} {where}: {str(error).splitlines()[0][:200]}", "try again")

    def folders(self, prefix: str) -> list[str]:
        full = self._key(prefix).rstrip("/") + "/"
        try:
            listing = self.client.list_blobs(self.bucket, prefix=full, delimiter="/")
            for _page in listing.pages:
                pass
            return sorted(p[len(full) :].rstrip("/") for p in listing.prefixes)
        except self.exceptions.GoogleAPIError as error:
            raise self._failed("list", prefix, error) from error

    def files(self, prefix: str) -> list[str]:
        full = self._key(prefix).rstrip("/") + "/"
        try:
            return sorted(blob.name[len(full) :] for blob in self.client.list_blobs(self.bucket, prefix=full))
        except self.exceptions.GoogleAPIError as error:
            raise ReadError(f"cannot list gs://{self.bucket_name}/{full}: {error}") from error

    def read(self, key: str) -> bytes | None:
        try:
            return self.bucket.blob(self._key(key)).download_as_bytes()
        except self.exceptions.NotFound:
            return None
        except self.exceptions.GoogleAPIError as error:
            raise ReadError(f"cannot read gs://{self.bucket_name}/{self._key(key)}: {error}") from error

    def link(self, key: str, folder: bool = False) -> str:
        name = self._key(key)
        if self.link_base is not None:
            return f"{self.link_base}/{quote(key)}" + ("/" if folder else "")
        if self.emulator:
            if folder:
                return f"{self.emulator}/storage/v1/b/{self.bucket_name}/o?prefix={quote(name + '/', safe='')}"
            return f"{self.emulator}/storage/v1/b/{self.bucket_name}/o/{quote(name, safe='')}?alt=media"
        if folder:
            return f"https://console.cloud.google.com/storage/browser/{self.bucket_name}/{quote(name)}/"
        return f"https://storage.googleapis.com/{self.bucket_name}/{quote(name)}"


Tree = LocalTree | GCSTree


class Trees:
    """Where each bucket's results are read from: `BUCKET=DIR|gs://...` entries, and a default for the rest.

    TestGrid reads each test group from the bucket named by its gcs_prefix; many organisations' buckets
    feed one dashboard. The preview maps each bucket to a folder or a GCS location the same way.
    """

    def __init__(self, by_bucket: dict[str, Tree], default: Tree | None = None) -> None:
        self.by_bucket = by_bucket
        self.default = default

    def get(self, bucket: str) -> Tree | None:
        return self.by_bucket.get(bucket, self.default)

    def items(self) -> Iterator[tuple[str, Tree]]:
        """(bucket, tree) for each mapped bucket, then ("", default)."""
        yield from self.by_bucket.items()
        if self.default is not None:
            yield "", self.default

    def all(self) -> list[Tree]:
        return [tree for _, tree in self.items()]


def open_trees(entries: list[str], link_base: str | None = None) -> Trees:
    """`--results` values: `DIR` or `gs://...` (any bucket), or `BUCKET=DIR` / `BUCKET=gs://...`."""
    by_bucket: dict[str, Tree] = {}
    default: Tree | None = None
    for entry in entries:
        bucket, sep, where = entry.partition("=")
        if sep and bucket and "/" not in bucket and "://" not in bucket:
            if bucket in by_bucket:
                raise ConfigError(f"--results names bucket {bucket!r} twice", "pass one --results per bucket")
            base = f"{link_base.rstrip('/')}/{bucket}" if link_base else None
            by_bucket[bucket] = open_tree(where, base)
        else:
            if default is not None:
                raise ConfigError(
                    f"--results {entry!r}: a second results tree without a bucket name",
                    "name the bucket each tree stands for: --results BUCKET=DIR",
                )
            default = open_tree(entry, link_base)
    return Trees(by_bucket, default)


def open_tree(results: str, link_base: str | None = None) -> Tree:
    """`gs://bucket[/folder]` or a local folder holding `logs/<job>/<build>/...`."""
    text = (results or "").strip()
    if "://" in text:
        url = urlparse(text)
        if url.scheme != "gs" or not url.netloc:
            raise ConfigError(f"unsupported results URL {text!r}", "use gs://BUCKET[/FOLDER] or a local folder")
        return GCSTree(url.netloc, url.path, link_base=link_base)
    path = Path(text or ".")
    if not path.is_dir():
        raise ConfigError(
            f"no results folder at {path}",
            "run `tox -e e2e-kind` first, or pass --results DIR (the folder holding logs/) or gs://BUCKET",
        )
    return LocalTree(path, link_base)
