"""Where a build goes: a local folder (the exact bucket layout under it) or a GCS bucket.

Every payload is a upload.sealed.Scrubbed: a sink refuses anything the scrubber did not make, and writes it
from its chunks or its file (never a copy of it whole in memory). Build objects
are write-once: `create` refuses an existing object (GCS `if_generation_match=0`, locally a hard link,
which fails if the name exists), so a second run with the same job and build id cannot
overwrite anything. GCS calls retry with exponential backoff on 429/5xx/connection errors through
google-api-core's Retry (the storage library's own predicate). A retried write that already landed
comes back as 412; the writer token stored in the object's metadata tells our own write from another run's.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from upload import files
from upload.errors import CredentialsError, SinkError
from upload.sealed import Scrubbed, require

WRITER_KEY = "fedtest-writer"
GZIP_TYPES = ("text/plain", "application/xml", "application/json")
NO_CACHE = "no-cache, max-age=0, no-transform"
LATEST_READ_LIMIT = 4096  # what `update` reads of the current object (latest-build.txt is one id)
UPDATE_ATTEMPTS = 8  # how often `update` reads again after another writer got in between
UPLOAD_CHUNK = 8 << 20  # a resumable upload sends (and holds) this much at a time; a multiple of 256 KiB
GZIP_IN_MEMORY = 2 << 20  # a gzipped payload larger than this waits in a temporary file


class ObjectExists(SinkError):
    """A write-once object is already there (written by another run)."""


# What `Sink.update` calls with the object's current bytes (None: absent): the new payload, or None to keep it.
Change = Callable[[bytes | None], Scrubbed | None]


class Sink(ABC):
    """A bucket or a folder that holds objects by name. Every payload is a Scrubbed (upload.sealed)."""

    url: str
    workers: int = 16

    @abstractmethod
    def read_text(self, key: str) -> str | None:
        """The object's text, or None when it does not exist."""

    @abstractmethod
    def create(self, key: str, data: Scrubbed, content_type: str) -> None:
        """Write a new object; raise ObjectExists when the name is taken."""

    @abstractmethod
    def replace(self, key: str, data: Scrubbed, content_type: str, cache_control: str | None = None) -> None:
        """Write an object that may exist already (latest-build.txt only)."""

    @abstractmethod
    def update(self, key: str, change: Change, content_type: str, cache_control: str | None = None) -> bool:
        """Read, decide, write under a precondition: no other writer's object is overwritten unseen (a bucket
        checks the generation it read, a folder holds a lock). True when `change` wrote something."""

    def local_path(self, key: str) -> Path | None:
        """The file that holds object `key` when the sink is a folder; None for buckets."""
        return None

    def set_budget(self, seconds: float) -> None:  # noqa: B027 - optional hook
        """Cap how long any one call may keep retrying (the abort path has a reserved budget)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class LocalSink(Sink):
    """The bucket layout under a folder: object `a/b/c` is the file `<root>/a/b/c`, written through
    upload.files (no link below the root is followed; temporary names always fit NAME_MAX)."""

    def __init__(self, root: Path, workers: int = 8) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self.workers = workers
        if self.root.exists() and not self.root.is_dir():
            raise SinkError(
                f"results folder {self.root} is a file", "pass a folder (or a gs:// URL) to --results"
            )

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def read_text(self, key: str) -> str | None:
        data = self.read_bytes(key)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:  # has no strerror: reading it was an AttributeError
            raise SinkError(f"{self._path(key)} is not UTF-8 text (byte {err.start})", "check the folder") from err

    def read_bytes(self, key: str, limit: int | None = None) -> bytes | None:
        """The object's bytes (at most `limit`), None when it does not exist; links are not followed."""
        try:
            with files.Folder.open(self.root) as root:
                return root.read(key.split("/"), limit=limit)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise SinkError(f"cannot read {self._path(key)}: {err.strerror or err}", "check the folder") from err

    def _write(self, key: str, write: Callable[[files.Folder, str], None]) -> None:
        target = self._path(key)
        *parents, name = key.split("/")
        try:
            with files.Folder.open(self.root, create=True) as root, root.subfolder(parents, create=True) as folder:
                write(folder, name)
        except FileExistsError as err:
            if target.is_dir() and not target.is_symlink():
                raise SinkError(f"{target} is a folder", "move it away: fedtest writes a file by that name") from err
            raise ObjectExists(f"{target} already exists", "use a new build id; builds are write-once") from err
        except OSError as err:
            raise SinkError(f"cannot write {target}: {err.strerror or err}", "check the folder") from err

    def create(self, key: str, data: Scrubbed, content_type: str) -> None:
        payload = require(data)
        self._write(key, lambda folder, name: folder.create(name, payload.chunks()))

    def replace(self, key: str, data: Scrubbed, content_type: str, cache_control: str | None = None) -> None:
        payload = require(data)
        self._write(key, lambda folder, name: folder.replace(name, payload.chunks()))

    def update(self, key: str, change: Change, content_type: str, cache_control: str | None = None) -> bool:
        wrote = False

        def locked(folder: files.Folder, name: str) -> None:
            nonlocal wrote
            fcntl.flock(folder.fd, fcntl.LOCK_EX)  # every writer of this folder takes the same lock
            try:
                try:
                    current: bytes | None = folder.read([name], limit=LATEST_READ_LIMIT)
                except FileNotFoundError:
                    current = None
                except files.Refused:
                    current = None  # a link or a folder at the name: replaced below (a folder fails there)
                payload = change(current)
                if payload is not None:
                    folder.replace(name, require(payload).chunks())
                    wrote = True
            finally:
                fcntl.flock(folder.fd, fcntl.LOCK_UN)

        self._write(key, locked)
        return wrote

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


@contextlib.contextmanager
def _gzipped(payload: Scrubbed) -> Iterator[tuple[IO[bytes], int]]:
    """The payload gzipped chunk by chunk (level 1, no name or time in the header), and its size."""
    with tempfile.SpooledTemporaryFile(max_size=GZIP_IN_MEMORY) as spool:
        with gzip.GzipFile(filename="", fileobj=spool, mode="wb", compresslevel=1, mtime=0) as packed:
            for chunk in payload.chunks():
                packed.write(chunk)
        size = spool.tell()
        spool.seek(0)
        yield spool, size  # type: ignore[misc]


def make_retry(initial: float = 1.0, maximum: float = 32.0, multiplier: float = 2.0, timeout: float = 300.0):
    """The storage library's retry policy (429, 5xx, resets, timeouts) with our backoff and overall budget."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_delay(initial=initial, maximum=maximum, multiplier=multiplier).with_timeout(
        timeout
    )


class GCSSink(Sink):
    """A GCS bucket through google-cloud-storage; honours STORAGE_EMULATOR_HOST."""

    def __init__(
        self, bucket: str, *, client=None, retry=None, timeout: float = 60.0, workers: int = 16,
        deadline: float = 30.0,
    ) -> None:
        from google.api_core import exceptions as api_exceptions

        self._api = api_exceptions
        self.bucket_name = bucket
        self.url = f"gs://{bucket}"
        self.workers = workers
        self.client = client or self.default_client()
        self._tune_session(self.client, workers)
        self.bucket = self.client.bucket(bucket)
        self.retry = retry or make_retry(timeout=deadline)
        self.timeout = min(timeout, deadline)
        self.deadline = deadline
        self.token = uuid.uuid4().hex
        self.gzip_min_bytes = 1 << 20

    @staticmethod
    def default_client():
        """Application Default Credentials, or anonymous access when STORAGE_EMULATOR_HOST is set."""
        import google.auth
        from google.auth import exceptions as auth_exceptions
        from google.cloud import storage

        if os.environ.get("STORAGE_EMULATOR_HOST"):
            client = storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT") or "fedtest")
        else:
            try:
                credentials, project = google.auth.default(
                    scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
                )
            except auth_exceptions.GoogleAuthError as err:
                first = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
                raise CredentialsError(
                    f"no usable Google credentials ({first.splitlines()[0][:160]})",
                    "set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, "
                    "or run where a service account is attached",
                ) from err
            return storage.Client(project=project or "fedtest", credentials=credentials)
        return client

    @staticmethod
    def _tune_session(client, size: int) -> None:
        """One pooled connection per upload thread (requests keeps 10 by default and drops the rest), and the
        environment read once: with trust_env requests scans every variable for proxies and stats ~/.netrc on
        each request, a sixth of an upload's CPU. Every call goes to one endpoint, so its proxies and CA
        bundle are the same for all of them; a netrc login would only replace the OAuth header."""
        from requests.adapters import HTTPAdapter
        from requests.utils import get_environ_proxies

        session = client._http
        adapter = HTTPAdapter(pool_connections=size, pool_maxsize=size)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        if not session.trust_env:
            return
        endpoint = getattr(getattr(client, "_connection", None), "API_BASE_URL", None)
        if not endpoint:
            return  # no endpoint to read the environment for: requests keeps doing it per call
        for scheme, proxy in get_environ_proxies(endpoint).items():
            session.proxies.setdefault(scheme, proxy)
        if session.verify is True:
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False

    def _fail(self, action: str, key: str, err: Exception) -> SinkError:
        where = f"{self.url}/{key}"
        if isinstance(err, self._api.NotFound):
            return SinkError(
                f"bucket {self.bucket_name!r} does not exist ({action} {where})",
                "create the bucket or fix --results",
            )
        if isinstance(err, (self._api.Forbidden, self._api.Unauthorized)):
            return CredentialsError(
                f"permission denied to {action} {where}",
                "grant the credentials object create/read on the bucket",
            )
        if isinstance(err, self._api.RetryError):
            cause = err.cause or err
            return SinkError(
                f"gave up to {action} {where} after retrying for {self.deadline:g}s at {self.endpoint} "
                f"({type(cause).__name__})",
                "check that the endpoint answers (STORAGE_EMULATOR_HOST, network, bucket), then run again",
            )
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        return SinkError(f"cannot {action} {where}: {first}", "check the bucket and credentials")

    @property
    def endpoint(self) -> str:
        """The API endpoint this sink talks to (the emulator's address under STORAGE_EMULATOR_HOST)."""
        connection = getattr(self.client, "_connection", None)
        return getattr(connection, "API_BASE_URL", None) or os.environ.get("STORAGE_EMULATOR_HOST") or "GCS"

    def read_text(self, key: str) -> str | None:
        from google.auth import exceptions as auth_exceptions

        try:
            return self.bucket.blob(key).download_as_bytes(retry=self.retry, timeout=self.timeout).decode()
        except self._api.NotFound:
            return None
        except (self._api.GoogleAPIError, auth_exceptions.GoogleAuthError, OSError, ValueError) as err:
            raise self._fail("read", key, err) from err

    def _mine(self, key: str) -> bool:
        """After a 412: did an earlier attempt of this very write land (response lost on the way back)?"""
        blob = self.bucket.get_blob(key, retry=self.retry, timeout=self.timeout)
        return blob is not None and (blob.metadata or {}).get(WRITER_KEY) == self.token

    def create(self, key: str, data: Scrubbed, content_type: str) -> None:
        from google.auth import exceptions as auth_exceptions

        payload = require(data)
        blob = self.bucket.blob(key)
        blob.metadata = {WRITER_KEY: self.token}
        blob.chunk_size = UPLOAD_CHUNK
        kwargs = {
            "content_type": content_type,
            "if_generation_match": 0,
            "retry": self.retry,
            "timeout": self.timeout,
        }
        try:
            if payload.size >= self.gzip_min_bytes and content_type in GZIP_TYPES:
                # Logs and JUnit shrink 10-100x; readers decompress transparently (spec §1.6).
                blob.content_encoding = "gzip"
                with _gzipped(payload) as (source, size):
                    blob.upload_from_file(source, size=size, **kwargs)
            else:
                blob.upload_from_file(payload.open(), size=payload.size, **kwargs)
        except self._api.PreconditionFailed as err:
            try:
                if self._mine(key):
                    return
            except (self._api.GoogleAPIError, auth_exceptions.GoogleAuthError, OSError) as err2:
                raise self._fail("check", key, err2) from err2
            raise ObjectExists(
                f"{self.url}/{key} already exists", "use a new build id; builds are write-once"
            ) from err
        except (self._api.GoogleAPIError, auth_exceptions.GoogleAuthError, OSError, ValueError) as err:
            raise self._fail("write", key, err) from err

    def replace(self, key: str, data: Scrubbed, content_type: str, cache_control: str | None = None) -> None:
        from google.auth import exceptions as auth_exceptions

        payload = require(data)
        blob = self.bucket.blob(key)
        blob.chunk_size = UPLOAD_CHUNK
        if cache_control:
            blob.cache_control = cache_control
        try:
            blob.upload_from_file(payload.open(), size=payload.size, content_type=content_type, retry=self.retry,
                                  timeout=self.timeout)
        except (self._api.GoogleAPIError, auth_exceptions.GoogleAuthError, OSError, ValueError) as err:
            raise self._fail("write", key, err) from err

    def update(self, key: str, change: Change, content_type: str, cache_control: str | None = None) -> bool:
        """Compare-and-swap on the object's generation (0: it must not exist yet); read again on a 412."""
        from google.auth import exceptions as auth_exceptions

        for _attempt in range(UPDATE_ATTEMPTS):
            try:
                blob = self.bucket.get_blob(key, retry=self.retry, timeout=self.timeout)
                generation = 0 if blob is None else blob.generation
                current = None if blob is None else blob.download_as_bytes(
                    end=LATEST_READ_LIMIT - 1, if_generation_match=generation, retry=self.retry,
                    timeout=self.timeout)
                payload = change(current)
                if payload is None:
                    return False
                target = self.bucket.blob(key)
                if cache_control:
                    target.cache_control = cache_control
                target.upload_from_string(require(payload).read(), content_type=content_type,
                                          if_generation_match=generation, retry=self.retry, timeout=self.timeout)
                return True
            except (self._api.PreconditionFailed, self._api.NotFound):
                continue  # another writer got in between (or removed it): read again
            except (self._api.GoogleAPIError, auth_exceptions.GoogleAuthError, OSError, ValueError) as err:
                raise self._fail("write", key, err) from err
        raise SinkError(f"{self.url}/{key} kept changing during {UPDATE_ATTEMPTS} attempts to update it",
                        "another writer updates it in a loop; run again")

    def set_budget(self, seconds: float) -> None:
        seconds = max(seconds, 1.0)
        self.retry = self.retry.with_timeout(seconds)
        self.timeout = min(self.timeout, seconds)

    def close(self) -> None:
        self.client.close()
