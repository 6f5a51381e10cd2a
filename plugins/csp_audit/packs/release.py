"""Versioned, immutable releases of a partnership's pack, with restatements against the previous one.

Layout under the publish root::

    <partnership_code>/
        v0001/ v0002/ ...      one folder per release, read-only once written (files 0444, folders 0555)
        latest                 a text file naming the newest version ("v0002"), replaced atomically
        releases.csv           one line per refresh: new version or "unchanged", with the table checksums

Rules:

* A refresh never overwrites: it builds the new version in a hidden staging folder beside the others
  and renames it to the next free number; a version folder that already exists is refused
  (:class:`ReleaseError`), whatever is in it.
* "No change" is decided on the **tables**, not the files: each table's checksum is the SHA-256 of
  its CSV extract (deterministic: rows sorted by the table's key, fixed number formatting). If the
  set of tables and every checksum equal the latest release's (its ``manifest.json``), the refresh
  is recorded in ``releases.csv`` as ``unchanged`` and no version is written. The report's date,
  the refresh label or a re-delivered file with the same figures do not make a new version.
* ``restatements.csv`` in each new version lists every published figure that differs from the
  previous version for a row present in both (table, key, column, old value, new value, change:
  revised / withheld / released), and rows withdrawn; rows that are simply new are counted, not listed.
* A lock file per partnership serialises concurrent publishers.
* A new version is announced once: ``.unannounced-<version>`` beside it is written before the version
  folder is renamed into place (so no visible new release lacks it) and removed by the notice step
  once the partnership has been told. A publisher killed anywhere leaves a state the next one repairs
  under the lock (:func:`recover`): a dead publisher's staging folder is removed, a marker whose
  version never became visible is dropped, and a version renamed into place before ``latest`` and
  ``releases.csv`` were updated is recorded as the latest release (from its own manifest), so it is
  never released a second time.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from csp_audit.faults import fault_point
from csp_audit.packs.disclosure import FLAG_SUFFIX, MARKER
from csp_audit.packs.extracts import cell_text

VERSION_RE = re.compile(r"^v(\d{4,})$")
LATEST = "latest"
LOG = "releases.csv"
UNANNOUNCED = ".unannounced-"
STAGING = ".staging-"
LOG_COLUMNS = [
    "refreshed_at",
    "refresh_label",
    "outcome",
    "version",
    "previous_version",
    "restatements",
    "tables_sha256",
]
RESTATEMENT_COLUMNS = ["table", "key", "column", "old_value", "new_value", "change"]


class ReleaseError(RuntimeError):
    """A release cannot be written as asked (an existing version, a broken pointer)."""


@dataclass(frozen=True)
class Decision:
    new: bool
    version: str  # the version to write, or the unchanged latest one
    previous: str | None


def versions(partnership_dir: Path) -> list[str]:
    if not partnership_dir.is_dir():
        return []
    found = [p.name for p in partnership_dir.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
    return sorted(found, key=lambda v: int(v[1:]))


def read_latest(partnership_dir: Path) -> str | None:
    """The version ``latest`` names: a symbolic link to the version folder (a text file holding the
    name in publish roots written before links; still read)."""
    pointer = partnership_dir / LATEST
    if pointer.is_symlink():
        return os.readlink(pointer).rstrip("/")
    if pointer.is_file():
        return pointer.read_text(encoding="utf-8").strip()
    return None


def latest_version(partnership_dir: Path) -> str | None:
    pointer = partnership_dir / LATEST
    name = read_latest(partnership_dir)
    if name is None:
        return None
    if not VERSION_RE.match(name) or not (partnership_dir / name).is_dir():
        raise ReleaseError(f"{pointer}: names {name!r}, which is not a release folder")
    return name


def next_version(partnership_dir: Path) -> str:
    existing = versions(partnership_dir)
    number = int(existing[-1][1:]) + 1 if existing else 1
    return f"v{number:04d}"


def read_manifest(version_dir: Path) -> dict:
    return json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))


def decide(
    partnership_dir: Path, table_checksums: dict[str, str], documents: dict[str, str | None] | None = None
) -> Decision:
    """New version, or unchanged (same tables, same checksums as the latest release).

    ``documents``: what else a release is made of, by manifest key (e.g. ``commentary`` -> the sha256 of
    the partnership's commentary file, or None without one). A release whose manifest records another
    value, or none where one is expected, is followed by a new version: an officer's edit alone is
    published, and a release made before a document existed gets one at the next refresh."""
    previous = latest_version(partnership_dir)
    if previous is not None:
        manifest = read_manifest(partnership_dir / previous)
        before = {name: t["sha256"] for name, t in manifest["tables"].items()}
        same_documents = all(
            key in manifest and (manifest[key] or {}).get("sha256") == digest
            for key, digest in (documents or {}).items()
        )
        if before == table_checksums and same_documents:
            return Decision(False, previous, previous)
    return Decision(True, next_version(partnership_dir), previous)


@contextmanager
def locked(partnership_dir: Path) -> Iterator[None]:
    partnership_dir.mkdir(parents=True, exist_ok=True)
    with open(partnership_dir / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unannounced_marker(partnership_dir: Path, version: str) -> Path:
    """``.unannounced-<version>``: present from just before the version becomes visible until its notice."""
    return partnership_dir / f"{UNANNOUNCED}{version}"


def unannounced_versions(partnership_dir: Path) -> list[str]:
    """Versions whose marker is present (oldest first)."""
    if not partnership_dir.is_dir():
        return []
    found = [p.name[len(UNANNOUNCED) :] for p in partnership_dir.glob(f"{UNANNOUNCED}v*")]
    return sorted((v for v in found if VERSION_RE.match(v)), key=lambda v: int(v[1:]))


def write_version(
    partnership_dir: Path, version: str, fill: Callable[[Path], None], *, unannounced: bool = False
) -> Path:
    """Write a new version through ``fill(staging_folder)``, then make it permanent and read-only.

    ``unannounced``: write the version's ``.unannounced-<version>`` marker before it becomes visible
    (removed again if it never does), so a release is never visible without it until it is announced.
    """
    if not VERSION_RE.match(version):
        raise ReleaseError(f"{version!r} is not a version name (v0001, v0002, ...)")
    target = partnership_dir / version
    if target.exists():
        raise ReleaseError(f"{target} already exists: releases are immutable; a refresh writes a new version")
    staging = partnership_dir / f"{STAGING}{version}-{os.getpid()}"
    if staging.exists():
        _make_writable(staging)
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    marker = unannounced_marker(partnership_dir, version)
    try:
        fill(staging)
        make_read_only(staging)
        fault_point("release:staged")
        if target.exists():
            raise ReleaseError(f"{target} appeared while it was being written")
        if unannounced:
            _write_atomically(marker, version + "\n")
        os.rename(staging, target)
    except BaseException:
        if staging.exists():
            _make_writable(staging)
            shutil.rmtree(staging, ignore_errors=True)
        if unannounced and not target.exists():
            marker.unlink(missing_ok=True)
        raise
    fault_point("release:visible")
    point_latest(partnership_dir, version)
    return target


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def recover(partnership_dir: Path) -> list[str]:
    """Repair what a publisher killed mid-release left; call under :func:`locked`. What was repaired.

    * staging folders (and temporary files) of a dead publisher are removed: under the lock no other
      publisher can be writing one;
    * an unannounced marker whose version never became visible is removed;
    * the newest version folder is complete (it is renamed into place whole), so when ``latest`` does
      not name it, the publisher died between the rename and the pointer: ``latest`` is pointed at it
      and its ``releases.csv`` line written from its manifest, so the next refresh compares against it
      instead of releasing the same tables again under a new number.
    """
    if not partnership_dir.is_dir():
        return []
    done: list[str] = []
    for leftover in sorted(partnership_dir.iterdir()):
        name = leftover.name
        if leftover.is_dir() and name.startswith(STAGING):
            _make_writable(leftover)
            shutil.rmtree(leftover, ignore_errors=True)
            done.append(f"removed {name}, left by a publisher that did not finish")
        elif ".tmp" in name and name.startswith((UNANNOUNCED, f".{LATEST}")):
            leftover.unlink(missing_ok=True)
    present = versions(partnership_dir)
    for version in unannounced_versions(partnership_dir):
        if version not in present:
            unannounced_marker(partnership_dir, version).unlink(missing_ok=True)
            done.append(f"removed the marker of {version}, which was never released")
    if not present:
        return done
    newest = present[-1]
    named = read_latest(partnership_dir)
    if named != newest and (named is None or not VERSION_RE.match(named) or int(named[1:]) < int(newest[1:])):
        point_latest(partnership_dir, newest)
        done.append(f"latest pointed at {newest} (was {named or 'missing'})")
    if not any(r.get("outcome") == "new" and r.get("version") == newest for r in read_log(partnership_dir)):
        manifest = read_manifest(partnership_dir / newest)
        checksums = {name: t["sha256"] for name, t in manifest["tables"].items()}
        combined = hashlib.sha256(json.dumps(checksums, sort_keys=True).encode()).hexdigest()
        append_log(partnership_dir, {"refreshed_at": manifest.get("created_at", ""),
                                     "refresh_label": manifest.get("refresh_label", ""), "outcome": "new",
                                     "version": newest, "previous_version": manifest.get("previous_version") or "",
                                     "restatements": manifest.get("restatements", {}).get("rows", 0),
                                     "tables_sha256": combined})  # fmt: skip
        done.append(f"{newest} recorded in {LOG} from its manifest")
    return done


def point_latest(partnership_dir: Path, version: str) -> None:
    """``latest`` becomes a relative symbolic link to the version folder, swapped in atomically, so
    ``<partnership>/latest/report.html`` always opens the newest release."""
    temp = partnership_dir / f".{LATEST}.tmp"
    temp.unlink(missing_ok=True)
    os.symlink(version, temp, target_is_directory=True)
    os.replace(temp, partnership_dir / LATEST)


def make_read_only(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in files:
            os.chmod(Path(root) / name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        for name in dirs:
            os.chmod(Path(root) / name, 0o555)
    os.chmod(folder, 0o555)


def _make_writable(folder: Path) -> None:
    os.chmod(folder, 0o755)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)
        for name in files:
            os.chmod(Path(root) / name, 0o644)


def append_log(partnership_dir: Path, row: dict[str, object]) -> None:
    path = partnership_dir / LOG
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})


def read_log(partnership_dir: Path) -> list[dict[str, str]]:
    path = partnership_dir / LOG
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------------------ restatements


def published_text(frame: pd.DataFrame, *, as_read: bool = False) -> pd.DataFrame:
    """Every cell as published text, with [c] folded into the value column (flag columns dropped).

    ``as_read``: the frame was read back from a pack CSV, so its text is already as published.
    """
    flags = [c for c in frame.columns if c.endswith(FLAG_SUFFIX) and c[: -len(FLAG_SUFFIX)] in frame.columns]
    out = pd.DataFrame(index=frame.index)

    def text_of(column: str) -> pd.Series:
        if as_read:
            return frame[column].fillna("").astype(str)
        return frame[column].map(cell_text)

    for column in frame.columns:
        if column in flags:
            continue
        text = text_of(column)
        flag = f"{column}{FLAG_SUFFIX}"
        if flag in frame.columns:
            text = text.where(text_of(flag) != MARKER, MARKER)
        out[column] = text
    return out


def read_published_csv(path: Path) -> pd.DataFrame:
    """A pack CSV read back as text, exactly as written."""
    data = path.read_bytes().decode("utf-8-sig")
    frame = pd.read_csv(io.StringIO(data), dtype=str, keep_default_na=False, na_values=[])
    return frame


def restatements(
    old: dict[str, pd.DataFrame], new: dict[str, pd.DataFrame], keys: dict[str, tuple[str, ...]]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Figures that differ between two releases, and per table the number of rows that are new.

    ``old`` and ``new`` are tables as published text (:func:`published_text`).
    """
    rows: list[dict[str, str]] = []
    added: dict[str, int] = {}
    for name, after in new.items():
        before = old.get(name)
        if before is None:
            added[name] = len(after)
            continue
        key = [k for k in keys.get(name, ()) if k in after.columns and k in before.columns]
        if not key:
            continue
        merged = before.merge(after, on=key, how="outer", suffixes=("__old", "__new"), indicator=True)
        added[name] = int((merged["_merge"] == "right_only").sum())
        key_text = (
            merged[key]
            .fillna("")
            .astype(str)
            .apply(lambda r, key=key: "; ".join(f"{k}={v}" for k, v in zip(key, r, strict=True)), axis=1)
        )
        for i in (merged["_merge"] == "left_only").to_numpy().nonzero()[0]:
            rows.append({"table": name, "key": key_text.iloc[i], "column": "(row)", "old_value": "published",
                         "new_value": "", "change": "withdrawn"})  # fmt: skip
        both = (merged["_merge"] == "both").to_numpy()
        for column in after.columns:
            if column in key or column not in before.columns:
                continue
            o = merged[f"{column}__old"].fillna("").astype(str)
            n = merged[f"{column}__new"].fillna("").astype(str)
            differ = both & (o != n).to_numpy()
            for i in differ.nonzero()[0]:
                old_value, new_value = o.iloc[i], n.iloc[i]
                change = (
                    "withheld" if new_value == MARKER else "released" if old_value == MARKER else "revised"
                )
                rows.append({"table": name, "key": key_text.iloc[i], "column": column, "old_value": old_value,
                             "new_value": new_value, "change": change})  # fmt: skip
    frame = pd.DataFrame(rows, columns=RESTATEMENT_COLUMNS)
    return frame.sort_values(["table", "key", "column"], kind="stable").reset_index(drop=True), added


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC).replace(microsecond=0)
