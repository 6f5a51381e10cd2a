"""The landing zone, wherever it lives: a local folder, an SFTP server or an object store, read the same way.

Agencies deliver into ``<landing>/<agency>/<dataset>/<YYYY-MM>/<file>`` (the plan's ``Dataset.landing_folder``
gives the ``<agency>/<dataset>`` part). The zone is reached through Airflow's ``ObjectStoragePath`` so the
same code reads ``file://``, ``sftp://`` and ``s3://`` roots, and credentials come from an Airflow connection,
never from the URL or the repository.

A landing zone is written by people outside the partnership, so every name in it is treated as hostile until
checked: path traversal, absolute names, control characters, hidden files, non-regular files and (on local
disks) symbolic links that leave the root are skipped with a recorded reason and never opened. Remote files
are read into a local content-addressed cache by :func:`fetch_to_local`, so the pipeline only ever parses a
local copy whose SHA-256 it has verified.

SFTP: the sftp provider registers ``sftp://`` with ObjectStoragePath through the ``sshfs`` library, which is
not a dependency of this project (and its adapter ignores the connection's ``host_key`` extra). So
:func:`landing_root` attaches fsspec's paramiko ``SFTPFileSystem`` instead, connected by the ssh provider's
``SSHHook``: host, port, login, password, ``key_file``/``private_key``, ``host_key`` and
``no_host_key_check`` are read exactly as Airflow's SFTP operators read them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.sdk import ObjectStoragePath
from fsspec.implementations.sftp import SFTPFileSystem

from csp_audit.plan.model import DataPlan
from csp_audit.plan.periods import MONTH_RE
from csp_audit.sources.delivery import content_hash

log = logging.getLogger(__name__)

REJECTED_FOLDER = "rejected"  # files the quality gate refused are moved here; they are not deliveries
_CHUNK = 1 << 20
_DEFAULT_SSH_TIMEOUT = 30  # seconds; a landing scan must fail, not hang, when the server stops answering
_EXTENSION = re.compile(r"^[a-z0-9]{1,12}$")
_SFTP_SCHEMES = {"sftp", "ssh"}
_CACHE_TEMP_PREFIX = ".partial-"


class LandingError(RuntimeError):
    """The landing zone cannot be read as asked (missing root, a file changed while it was copied)."""


class LandingConfigError(ValueError):
    """The landing URL or its connection cannot be used; the message says what to change."""


@dataclass(frozen=True)
class LandedFile:
    """One delivered file, identified by content (``sha256``) as well as by place.

    ``relative_path`` is ``<landing folder>/<period>/<name>`` relative to the landing root, so it stays the
    same when the zone moves; ``url`` is where it was read from, for messages and lineage only.
    """

    dataset: str
    agency: str
    period: str
    name: str
    relative_path: str
    size: int
    modified: datetime
    sha256: str
    url: str

    @property
    def extension(self) -> str:
        """Lower-case extension for the cache name; ``bin`` when the name has none that is safe to reuse."""
        _, dot, ext = self.name.rpartition(".")
        ext = ext.lower()
        return ext if dot and _EXTENSION.match(ext) else "bin"

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["modified"] = self.modified.isoformat()
        return out


@dataclass(frozen=True)
class SkippedEntry:
    """Something in the landing zone that was not taken as a delivery, and why (for the arrivals board)."""

    relative_path: str  # printable: control characters are escaped
    reason: str


# ------------------------------------------------------------------------------------------------- roots


class AirflowSFTPFileSystem(SFTPFileSystem):
    """fsspec's paramiko SFTP filesystem, connected through the ssh provider's ``SSHHook``.

    Going through the hook means the connection is read the way every other Airflow SFTP/SSH task reads it
    (including host key pinning with the ``host_key`` extra and system ``known_hosts``), instead of fsspec's
    default of trusting any host key on first use. Non-regular files are reported with type ``other`` so a
    FIFO or device on the server is never opened (an SFTP read of a FIFO would block).
    """

    cachable = False  # the Airflow ObjectStore cache holds the one instance per connection

    def __init__(self, conn_id: str, host: str | None = None, port: int | None = None, **kwargs: Any) -> None:
        # Deliberately skip SFTPFileSystem.__init__: it would connect with raw paramiko arguments.
        super(SFTPFileSystem, self).__init__(conn_id=conn_id, host=host, port=port, **kwargs)
        self.conn_id = conn_id
        self.host = host or ""
        self.port = port
        self.temppath = kwargs.get("temppath", "/tmp")
        self.ssh_kwargs: dict[str, Any] = {}
        self._connect()

    def _connect(self) -> None:
        from airflow.providers.ssh.hooks.ssh import SSHHook
        from airflow.sdk import BaseHook

        extras = BaseHook.get_connection(self.conn_id).extra_dejson
        timeout = None if "conn_timeout" in extras else _DEFAULT_SSH_TIMEOUT
        hook = SSHHook(
            ssh_conn_id=self.conn_id,
            remote_host=self.host,
            port=self.port,
            conn_timeout=timeout,
            conn_retry_attempts=int(extras.get("conn_retry_attempts", 2)),
        )
        self.client = hook.get_conn()
        self.host = hook.remote_host
        self.connected_pid = os.getpid()
        self.ftp = self.client.open_sftp()
        self.ftp.get_channel().settimeout(float(extras.get("conn_timeout") or _DEFAULT_SSH_TIMEOUT))

    def connected(self) -> bool:
        """Usable from this process: a forked worker inherits the object but not paramiko's reader thread."""
        transport = self.client.get_transport()
        return self.connected_pid == os.getpid() and bool(transport and transport.is_active())

    def close(self) -> None:
        """Close the SFTP channel and the SSH connection (the server's session process ends with it)."""
        try:
            self.ftp.close()
        finally:
            self.client.close()

    @staticmethod
    def _decode_stat(st: Any, parent_path: str | None = None) -> dict[str, Any]:
        out = SFTPFileSystem._decode_stat(st, parent_path)
        if st.st_mode is not None:  # a server may omit permissions; then only links and folders are known
            if out["type"] == "file" and not stat.S_ISREG(st.st_mode):
                out["type"] = "other"
            out["mode"] = st.st_mode
        return out


def landing_root(url: str, conn_id: str | None = None) -> ObjectStoragePath:
    """The landing zone as an ``ObjectStoragePath``: ``file:///...`` (or a plain path), ``sftp://host/path``
    or ``s3://bucket/prefix``.

    Credentials are never taken from the URL: a user or password in it is refused, and remote schemes need
    ``conn_id``, an Airflow connection (``AIRFLOW_CONN_<ID>``, a secrets backend or the metadata database).
    For sftp the URL host and port, when given, must agree with the connection's so a typo cannot send the
    agencies' data to another server.
    """
    try:  # fuzzing fix: urlsplit ('//[x') and .port ('sftp://h:99999') raised a bare ValueError
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise LandingConfigError(f"landing URL {url!r} cannot be parsed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or len(scheme) == 1:  # len 1: a Windows drive letter, i.e. a plain path
        return _local_root(url, parts.netloc, parts.path if scheme == "file" else url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise LandingConfigError(
            f"landing URL {_redact(url)!r} carries a user or password; put the credentials in an Airflow "
            "connection and pass its id as conn_id"
        )
    if parts.query or parts.fragment:
        raise LandingConfigError(f"landing URL {url!r} must not have a query or fragment")
    if scheme in _SFTP_SCHEMES:
        return _sftp_root(parts.hostname or "", parts.port, parts.path or "/", conn_id)
    if scheme in ("s3", "s3a"):
        if not parts.netloc:
            raise LandingConfigError(f"landing URL {url!r} names no bucket (s3://bucket/prefix)")
        if not conn_id:
            raise LandingConfigError(
                f"landing URL {url!r} needs conn_id: an Airflow aws connection (never the machine's own "
                "AWS credentials)"
            )
        from airflow.sdk.io import has_fs

        if not has_fs("s3"):
            raise LandingConfigError(
                f"landing URL {url!r} needs the Amazon provider for s3://: install "
                "apache-airflow-providers-amazon (it brings s3fs) and create an aws connection for conn_id"
            )
        return ObjectStoragePath(f"s3://{parts.netloc}{parts.path}", conn_id=conn_id)
    raise LandingConfigError(
        f"landing URL {url!r}: scheme {scheme!r} is not supported (use file://, sftp:// or s3://)"
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"***@{host}" if "@" in parts.netloc else parts.netloc).geturl()


def _local_root(url: str, netloc: str, path: str) -> ObjectStoragePath:
    if netloc not in ("", "localhost"):
        raise LandingConfigError(f"landing URL {url!r}: a file URL needs an absolute path, file:///...")
    try:
        local = Path(path).expanduser().resolve()
    # Fuzzing fix: '~nosuchuser' made expanduser raise RuntimeError, a NUL byte made resolve raise ValueError.
    except (RuntimeError, ValueError) as exc:
        raise LandingConfigError(f"landing URL {url!r} is not a usable local path: {exc}") from exc
    return _local_path(str(local))


def _local_path(path: str) -> ObjectStoragePath:
    """A local path as an ObjectStoragePath, given raw (not as a URL) so ``#``, ``?`` and ``%`` stay."""
    return ObjectStoragePath(path, protocol="file")


def _sftp_root(host: str, port: int | None, path: str, conn_id: str | None) -> ObjectStoragePath:
    from airflow.sdk import BaseHook
    from airflow.sdk.io import attach

    if not conn_id:
        raise LandingConfigError(
            "an sftp:// landing zone needs conn_id: the Airflow connection to log in with"
        )
    conn = BaseHook.get_connection(conn_id)
    if host and conn.host and host.lower() != conn.host.lower():
        raise LandingConfigError(
            f"landing URL host {host!r} differs from connection {conn_id!r} host {conn.host!r}"
        )
    if port and conn.port and port != conn.port:
        raise LandingConfigError(
            f"landing URL port {port} differs from connection {conn_id!r} port {conn.port}"
        )
    host = conn.host or host
    port = conn.port or port
    if not host:
        raise LandingConfigError(f"no host for sftp: neither the URL nor connection {conn_id!r} names one")
    # ObjectStoragePath resolves its filesystem through the Airflow store registered for (scheme, conn_id);
    # registering ours there makes every path derived from the root use this authenticated connection.
    store = attach(protocol="sftp", conn_id=conn_id)
    current = vars(store).get("fs")  # only an already-built filesystem; reading store.fs would build one
    if isinstance(current, AirflowSFTPFileSystem) and (current.host, current.port) == (host, port):
        if current.connected():
            return _sftp_path(host, port, path, conn_id)
        if current.connected_pid == os.getpid():
            current.close()
    store.fs = AirflowSFTPFileSystem(conn_id=conn_id, host=host, port=port)
    return _sftp_path(host, port, path, conn_id)


def _sftp_path(host: str, port: int | None, path: str, conn_id: str) -> ObjectStoragePath:
    netloc = f"{host}:{port}" if port else host
    return ObjectStoragePath(f"sftp://{netloc}/{path.lstrip('/')}", conn_id=conn_id)


def close_landing(root: ObjectStoragePath) -> None:
    """Drop the connection behind a remote root (tests, idle workers); the next landing_root reconnects."""
    fs = root.fs
    if isinstance(fs, AirflowSFTPFileSystem):
        fs.close()


def url_of(path: ObjectStoragePath) -> str:
    """A printable URL with the host (``str()`` of an sftp ObjectStoragePath drops it); no credentials."""
    protocol = path.protocol or "file"
    if protocol == "file":
        return "file://" + quote(path.path)
    options = path.storage_options
    netloc = str(options.get("host") or getattr(path.fs, "host", "") or "")
    if options.get("port"):
        netloc += f":{options['port']}"
    if protocol in _SFTP_SCHEMES:
        return f"sftp://{netloc}{quote(path.path)}"
    return f"{protocol}://{quote(path.path)}"


# ------------------------------------------------------------------------------------------------- names


def unsafe_name(name: str) -> str | None:
    """Why one path component from a listing must not be used, or None when it is safe.

    Checked before anything is opened: a name from a remote listing is data the server chose, and a local
    name is whatever an agency's upload tool produced.
    """
    if name in ("", ".", ".."):
        return "empty or relative name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if "/" in name or "\\" in name:
        return "path traversal"
    for char in name:
        if unicodedata.category(char).startswith("C") or char in "\u2028\u2029":
            return f"control or invisible character U+{ord(char):04X} in the name"
    if name.startswith("."):
        return "hidden file"
    # Fuzzing fix: ObjectStoragePath parses a path as a URL and drops an empty query or fragment, so a file
    # named "x?" or "x#" was hashed as "x" (another file) and one named "?" as its folder (IsADirectoryError).
    if urlsplit("/" + name).geturl() != "/" + name:
        return "a '?' or '#' that a URL would drop"
    return None


def printable(text: str) -> str:
    """The text with control and invisible characters escaped, safe for logs and the board."""
    return "".join(
        c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in text
    )


# ------------------------------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class _Entry:
    name: str
    kind: str  # "file", "directory" or why it is neither ("symbolic link", "special file")
    path: ObjectStoragePath
    modified: datetime


class _Scanner:
    """One walk of the landing zone; keeps the skipped entries and, for local roots, the real root path."""

    def __init__(self, root: ObjectStoragePath, skipped: list[SkippedEntry]) -> None:
        self.root = root
        self.fs = root.fs
        self.local = (root.protocol or "file") == "file"
        self.real_root = os.path.realpath(root.path) if self.local else ""
        self.skipped = skipped

    def skip(self, relative: str, reason: str) -> None:
        entry = SkippedEntry(printable(relative), reason)
        self.skipped.append(entry)
        log.warning("landing zone: skipped %s: %s", entry.relative_path, reason)

    def inside_root(self, path: ObjectStoragePath) -> bool:
        """Local only: where the path really is (links resolved) must be under the root."""
        real = os.path.realpath(path.path)
        return real == self.real_root or real.startswith(self.real_root.rstrip("/") + "/")

    def entries(self, folder: ObjectStoragePath, relative: str) -> Iterator[_Entry]:
        """Safe children of ``folder``; everything else is recorded as skipped. Nothing is followed."""
        base = self.fs._strip_protocol(folder.path).rstrip("/")
        try:
            listing = self.fs.ls(base, detail=True)
        except (OSError, UnicodeDecodeError) as exc:
            self.skip(relative, f"cannot list folder: {exc}")
            return
        for info in sorted(listing, key=lambda item: str(item.get("name", ""))):
            full = str(info.get("name", ""))
            name = full[len(base) + 1 :] if full.startswith(base + "/") else full
            shown = f"{relative}/{name}"
            reason = unsafe_name(name) if full.startswith(base + "/") else "listed outside its folder"
            if reason:
                self.skip(shown, reason)
                continue
            path = folder / name
            kind = str(info.get("type", ""))
            if kind == "link" or (info.get("islink") and not self.local):
                self.skip(shown, "symbolic link (not followed on a remote landing zone)")
                continue
            if self.local and info.get("islink"):
                if not self.inside_root(path):
                    self.skip(shown, "symbolic link pointing outside the landing zone")
                    continue
                try:  # a link that stays inside the root is taken as what it points to
                    info = self.fs.info(full)
                except OSError:
                    self.skip(shown, "broken symbolic link")
                    continue
                kind = str(info.get("type", ""))
            if kind == "file" and "mode" in info and not stat.S_ISREG(int(info["mode"])):
                kind = "other"
            if kind == "file" and self.local and int(info.get("nlink") or 1) > 1:
                # a hard link's other name may lie outside the landing zone (it cannot be told from here)
                self.skip(shown, "hard link (the file has another name, perhaps outside the landing zone)")
                continue
            if kind not in ("file", "directory"):
                self.skip(shown, "not a regular file or folder")
                continue
            yield _Entry(name, kind, path, _as_utc(info))


def _as_utc(info: dict[str, Any]) -> datetime:
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return datetime.fromtimestamp(0, tz=UTC)


def sha256_of(path: ObjectStoragePath) -> str:
    """SHA-256 streamed through the ObjectStoragePath, so a remote file is hashed without a local copy."""
    return content_hash(path)[0]


def list_deliveries(
    root: ObjectStoragePath | str | Path,
    plan: DataPlan,
    *,
    skipped: list[SkippedEntry] | None = None,
    dataset_id: str | None = None,
) -> list[LandedFile]:
    """Every delivery in the landing zone for the plan's datasets and agencies, sorted by relative path;
    with ``dataset_id``, that dataset's only (each ingest DAG lists its own folders: a national plan
    has about 6,000 files a year, and every listed file is read to hash it).

    Only files directly in ``<landing folder>/<YYYY-MM>/`` count; ``rejected/`` subfolders are ignored
    silently (the gate put those there). Anything else found on the way (a hostile or hidden name, a
    folder that is not a month, a stray file, a symbolic link that leaves the root) is appended to
    ``skipped`` with the reason, and logged, so an agency can be told why its upload was not seen.
    """
    if not isinstance(root, ObjectStoragePath):
        root = landing_root(str(root))
    if not root.is_dir():
        raise LandingError(f"landing zone {url_of(root)} does not exist or is not a folder")
    scan = _Scanner(root, skipped if skipped is not None else [])
    found: list[LandedFile] = []
    for dataset in plan.datasets.values():
        if dataset_id is not None and dataset.id != dataset_id:
            continue
        for agency in dataset.agencies:
            rel_folder = dataset.landing_folder(agency)
            bad = next((reason for part in rel_folder.split("/") if (reason := unsafe_name(part))), None)
            if bad:
                scan.skip(rel_folder, f"the plan's landing folder cannot be used: {bad}")
                continue
            folder = root.joinpath(*rel_folder.split("/"))
            if not folder.is_dir():
                continue
            if scan.local and not scan.inside_root(folder):
                scan.skip(rel_folder, "folder is a link pointing outside the landing zone")
                continue
            for period in scan.entries(folder, rel_folder):
                rel_period = f"{rel_folder}/{period.name}"
                if period.kind != "directory":
                    scan.skip(rel_period, "file outside a YYYY-MM period folder")
                    continue
                if not MONTH_RE.match(period.name):
                    scan.skip(rel_period, "period folder is not named YYYY-MM")
                    continue
                for item in scan.entries(period.path, rel_period):
                    rel_item = f"{rel_period}/{item.name}"
                    if item.kind == "directory":
                        if item.name != REJECTED_FOLDER:
                            scan.skip(rel_item, "subfolder in a period folder (deliveries go directly in it)")
                        continue
                    # locally, hash the checked real file, not a link that could be swapped meanwhile
                    readable = _local_path(os.path.realpath(item.path.path)) if scan.local else item.path
                    sha256, size = content_hash(readable)
                    found.append(
                        LandedFile(
                            dataset=dataset.id,
                            agency=agency,
                            period=period.name,
                            name=item.name,
                            relative_path=rel_item,
                            size=size,
                            modified=item.modified,
                            sha256=sha256,
                            url=url_of(item.path),
                        )
                    )
    return sorted(found, key=lambda f: f.relative_path)


# ------------------------------------------------------------------------------------------------- cache


def cache_path(landed: LandedFile, cache_dir: Path) -> Path:
    """``cache_dir/<sha256[:2]>/<sha256>.<ext>``: content-addressed, so a re-sent file is copied once."""
    return cache_dir / landed.sha256[:2] / f"{landed.sha256}.{landed.extension}"


def fetch_to_local(landed: LandedFile, root: ObjectStoragePath | str | Path, cache_dir: Path) -> Path:
    """A verified local copy of a landed file, copied only if the cache does not already hold it.

    The copy streams to a temporary name beside the target while hashing, is fsynced, and only renamed into
    place when its SHA-256 matches the listing, so a reader never sees a partial or substituted file and a
    crashed copy leaves nothing under the final name. Safe to call concurrently for the same file.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", landed.sha256):
        raise LandingError(f"{landed.relative_path}: {landed.sha256!r} is not a SHA-256")
    if not isinstance(root, ObjectStoragePath):
        root = landing_root(str(root))
    target = cache_path(landed, cache_dir)
    if target.is_file() and target.stat().st_size == landed.size:
        return target  # only ever created by the verified rename below
    parts = landed.relative_path.split("/")
    bad = next((reason for part in parts if (reason := unsafe_name(part))), None)
    if bad:
        raise LandingError(f"refusing to read {printable(landed.relative_path)!r}: {bad}")
    source = root.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=_CACHE_TEMP_PREFIX)
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != landed.sha256:
            raise LandingError(
                f"{landed.url} changed since it was listed (sha256 {digest.hexdigest()}, "
                f"expected {landed.sha256}); list the landing zone again"
            )
        os.replace(temp, target)
        fsync_dir(target.parent)
    finally:
        temp.unlink(missing_ok=True)
    return target


def fsync_dir(folder: Path) -> None:
    """Make the rename durable: without it a crash can lose the directory entry of a fsynced file."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
