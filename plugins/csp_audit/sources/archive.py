"""Pull police.uk street-level crime files from the published monthly archive zips.

police.uk publishes one archive per month whose members follow ``YYYY-MM/YYYY-MM-<force>-street.csv`` (with
outcomes and stop-and-search files beside them, for every force and several years). A partnership needs only
the street files of its own forces, so only those members are extracted, into the same layout under ``dest``
that :func:`csp_audit.sources.police_uk.discover` reads.

The archive comes from outside, so it is handled as untrusted input: the download is size-limited and
written to a temporary file, member names are matched against the exact archive pattern (a name with ``..``,
an absolute path or a backslash is refused, never normalised), the total uncompressed size extracted is
capped against zip bombs, and each file is written atomically (temporary name, fsync, rename) so a crash or
a concurrent reader never sees half a file. Only the standard library is used (urllib, zipfile).
"""

from __future__ import annotations

import hashlib
import logging
import lzma
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from urllib.parse import urlsplit

from csp_audit.plan.periods import MONTH_RE
from csp_audit.sources.delivery import content_hash
from csp_audit.sources.landing import fsync_dir
from csp_audit.sources.police_uk import parse_file_name, street_file_name

log = logging.getLogger(__name__)

DEFAULT_URL_PATTERN = "{base_url}/{month}.zip"
MAX_DOWNLOAD_BYTES = 8 * 1024**3  # a full monthly archive (all forces, ~3 years) is a few GB
MAX_EXTRACT_BYTES = 4 * 1024**3  # street files of a handful of forces over ~3 years are far below this
FORCE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CHUNK = 1 << 20
_USER_AGENT = "csp-audit (community safety partnership audit)"


class ArchiveError(RuntimeError):
    """The archive could not be fetched or used; the message names the URL and what went wrong."""


def archive_url(base_url: str, month: str, url_pattern: str = DEFAULT_URL_PATTERN) -> str:
    """The archive URL for ``month`` (``YYYY-MM``); http(s) only: urllib would open file:// and ftp:// too."""
    if not MONTH_RE.match(month):
        raise ValueError(f"month must be written YYYY-MM, got {month!r}")
    url = url_pattern.format(base_url=base_url.rstrip("/"), month=month)
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValueError(f"archive URL {url!r} must be http:// or https://")
    return url


def fetch_police_archive(
    base_url: str,
    month: str,
    forces: list[str],
    dest: Path,
    *,
    timeout: float = 60,
    url_pattern: str = DEFAULT_URL_PATTERN,
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    max_extract_bytes: int = MAX_EXTRACT_BYTES,
) -> list[Path]:
    """Download the ``month`` archive and extract the street files of ``forces`` into ``dest``.

    Returns the street files of those forces found in the archive (all the months it holds), as paths
    ``dest/YYYY-MM/YYYY-MM-<force>-street.csv``, sorted. Idempotent: a file already present with the same
    SHA-256 is left untouched (its mtime too), so re-running after a partial failure only writes what
    changed. ``timeout`` bounds each network wait and the download as a whole. Raises ArchiveError, naming
    the URL, on an HTTP error, a timeout, a download over ``max_download_bytes``, a file that is not a zip,
    or selected members over ``max_extract_bytes`` uncompressed.
    """
    wanted = set(forces)
    bad = sorted(force for force in wanted if not FORCE_SLUG.match(force))
    if bad:
        raise ValueError(f"force slugs must be lower-case police.uk slugs like 'west-yorkshire', got {bad}")
    url = archive_url(base_url, month, url_pattern)
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".archive-", dir=dest))  # beside dest: the space is where it lands
    try:
        archive = work / "archive.zip"
        _download(url, archive, timeout=timeout, limit=max_download_bytes)
        return _extract(url, archive, wanted, dest, max_extract_bytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _download(url: str, target: Path, *, timeout: float, limit: int) -> None:
    """Stream the response to ``target``, enforcing the size limit and an overall deadline."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, target.open("wb") as out:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise ArchiveError(f"{url}: archive is {int(length)} bytes, over the {limit}-byte limit")
            received = 0
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > limit:
                    raise ArchiveError(f"{url}: download exceeded the {limit}-byte limit")
                if time.monotonic() > deadline:
                    raise ArchiveError(f"{url}: download took longer than {timeout:g} s")
                out.write(chunk)
            if length and length.isdigit() and received != int(length):
                raise ArchiveError(f"{url}: connection closed after {received} of {length} bytes")
    except urllib.error.HTTPError as exc:
        raise ArchiveError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise ArchiveError(f"{url}: timed out after {timeout:g} s") from exc
        raise ArchiveError(f"{url}: cannot connect: {exc.reason}") from exc
    except TimeoutError as exc:
        raise ArchiveError(f"{url}: timed out after {timeout:g} s") from exc
    except OSError as exc:  # reset connections, a full disk
        raise ArchiveError(f"{url}: download failed: {exc}") from exc


def _unsafe_member(name: str) -> str | None:
    """Why a member name could escape ``dest`` (zip-slip), or None. Such members are refused, not cleaned."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if "\\" in name:
        return "backslash in the name"
    if ".." in name.split("/"):
        return "path traversal (..)"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        return "control character in the name"
    return None


def _member(name: str) -> tuple[str, str] | None:
    """(period, force) of an archive member ``YYYY-MM/YYYY-MM-<force>-street.csv``: the name in its month's folder."""
    folder, _, base = name.rpartition("/")
    parsed = parse_file_name(base)
    return parsed if parsed is not None and folder == parsed[0] else None


def _extract(url: str, archive: Path, wanted: set[str], dest: Path, max_bytes: int) -> list[Path]:
    if not zipfile.is_zipfile(archive):
        raise ArchiveError(f"{url}: the download is not a zip archive")
    try:
        with zipfile.ZipFile(archive) as zf:
            selected: list[tuple[zipfile.ZipInfo, str, str]] = []
            for info in zf.infolist():
                if info.is_dir():
                    continue
                reason = _unsafe_member(info.filename)
                if reason:
                    log.warning("%s: refused member %r: %s", url, info.filename, reason)
                    continue
                parsed = _member(info.filename)
                if parsed is None or parsed[1] not in wanted:
                    continue  # outcomes, stop-and-search and other forces are not needed
                if info.flag_bits & 0x1:
                    raise ArchiveError(f"{url}: member {info.filename} is encrypted")
                selected.append((info, parsed[0], street_file_name(*parsed)))
            declared = sum(info.file_size for info, _, _ in selected)
            if declared > max_bytes:
                raise ArchiveError(
                    f"{url}: the selected street files would be {declared} bytes uncompressed, "
                    f"over the {max_bytes}-byte limit"
                )
            budget = [max_bytes]
            written: list[Path] = []
            for info, period, name in selected:
                # the target is built from the matched parts, never from the member name itself
                written.append(_write_member(url, zf, info, dest / period / name, budget))
    # Fuzzing fix: zipfile lets a damaged archive surface as many exceptions besides BadZipFile (zlib, lzma and
    # bz2's OSError on bad compressed data, EOFError when truncated, NotImplementedError for an unknown method
    # or flag, UnicodeDecodeError for a bad UTF-8 name, IndexError for an empty name); all mean "unusable".
    except (
        zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, NotImplementedError, UnicodeDecodeError,
        IndexError,
    ) as exc:  # fmt: skip
        raise ArchiveError(f"{url}: corrupt zip archive: {exc.__class__.__name__}: {exc}") from exc
    found = {parsed[1] for path in written if (parsed := parse_file_name(path.name)) is not None}
    missing = sorted(wanted - found)
    if missing:
        log.warning("%s: no street files for %s", url, ", ".join(missing))
    return sorted(written)


def _write_member(
    url: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: list[int]
) -> Path:
    """Extract one member to ``target`` atomically, counting real bytes against the shared budget."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zf.open(info) as member:
            while chunk := member.read(_CHUNK):
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise ArchiveError(f"{url}: extracted data exceeded the uncompressed size limit")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if target.is_file() and content_hash(target)[0] == digest.hexdigest():
            return target  # already there, unchanged: leave it (and its mtime) alone
        os.replace(temp, target)
        fsync_dir(target.parent)
        log.info("%s: wrote %s", url, target)
        return target
    finally:
        temp.unlink(missing_ok=True)
