"""The landing zone on a local folder (file://): layout, hostile names, symbolic links, periods and hashing.

The same code reads SFTP and object stores (see tests/integration/test_landing_sftp.py); here the folder is
a temporary directory, and a filesystem that lies in its listings stands in for a hostile server.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io import attach
from csp_audit.plan.model import Cycle, DataPlan, Dataset, Geography, Sharing
from csp_audit.plan.periods import Month
from csp_audit.sources.landing import (
    LandedFile,
    LandingConfigError,
    LandingError,
    SkippedEntry,
    cache_path,
    fetch_to_local,
    landing_root,
    list_deliveries,
    printable,
    unsafe_name,
)
from fsspec.implementations.local import LocalFileSystem


def _dataset(ds_id: str, agencies: tuple[str, ...], landing: str = "{agency}/{dataset}") -> Dataset:
    return Dataset(
        ds_id, agencies, "test", "csv", (), Geography("lsoa", 2021), "month", "monthly", 10, None,
        Sharing("aggregate"), landing,
    )  # fmt: skip


PLAN = DataPlan(
    name="test",
    source=Path("/nonexistent/plan.yaml"),
    region=Path("/nonexistent"),
    cycle=Cycle(Month(2024, 1), 12),
    agencies={},
    datasets={
        "street_crime": _dataset("street_crime", ("northshire_police",), "police/{agency}"),
        "asb": _dataset("asb", ("northshire_council", "southmoor_council")),
    },
)


def _put(root: Path, relative: str, data: bytes = b"a,b\n1,2\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _scan(root: Path | ObjectStoragePath) -> tuple[list[LandedFile], dict[str, str]]:
    skipped: list[SkippedEntry] = []
    found = list_deliveries(root if isinstance(root, ObjectStoragePath) else str(root), PLAN, skipped=skipped)
    return found, {s.relative_path: s.reason for s in skipped}


# ------------------------------------------------------------------------------------------------- roots


def test_plain_path_and_file_url_are_the_same_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "land #1").mkdir()
    for url in ("land #1", str(tmp_path / "land #1"), f"file://{tmp_path}/land"):
        root = landing_root(url)
        assert root.protocol == "file"
        assert root.path.startswith(str(tmp_path / "land"))
    assert landing_root("land #1").is_dir()  # '#' kept literally in a plain path


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sftp://agency:s3cret@example.org/landing", "carries a user or password"),
        ("sftp://agency@example.org/landing", "carries a user or password"),
        ("file://otherhost/landing", "absolute path"),
        ("ftp://example.org/landing", "scheme 'ftp' is not supported"),
        ("sftp://example.org/landing?x=1", "query"),
        ("s3:///prefix", "names no bucket"),
        ("s3://key:s3cret@bucket/prefix", "carries a user or password"),
    ],
)
def test_bad_landing_urls(url: str, message: str) -> None:
    with pytest.raises(LandingConfigError, match=message) as caught:
        landing_root(url, conn_id="whatever")
    assert "s3cret" not in str(caught.value)


def test_s3_needs_a_connection_never_the_machines_credentials() -> None:
    with pytest.raises(LandingConfigError, match="needs conn_id"):
        landing_root("s3://bucket/prefix")
    # nothing is read yet; a name of its own, as Airflow caches the filesystem it attaches per connection id
    assert landing_root("s3://bucket/prefix", conn_id="aws_unit_test_not_used_elsewhere").protocol == "s3"


# ------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("2024-01-northshire-street.csv", None),
        ("asb export (v2).csv", None),
        ("Ünïcode.csv", None),
        ("..", "empty or relative name"),
        ("", "empty or relative name"),
        ("../x.csv", "path traversal"),
        ("a/b.csv", "path traversal"),
        ("..\\x.csv", "path traversal"),
        ("/etc/passwd", "absolute path"),
        ("C:evil.csv", "absolute path"),
        (".hidden.csv", "hidden file"),
        ("bad\nname.csv", "control or invisible character U+000A in the name"),
        ("tab\tname.csv", "control or invisible character U+0009 in the name"),
        ("invoice\u202ecsv.exe", "control or invisible character U+202E in the name"),
        ("zero\u200bwidth.csv", "control or invisible character U+200B in the name"),
        ("bad\udcffbyte.csv", "control or invisible character U+DCFF in the name"),
    ],
)
def test_unsafe_name(name: str, reason: str | None) -> None:
    assert unsafe_name(name) == reason


def test_printable_escapes_controls() -> None:
    assert printable("a\nb\u202ec") == "a\\x0ab\\u202ec"


# ------------------------------------------------------------------------------------------------- layout


def test_layout_is_parsed_and_hashed(tmp_path: Path) -> None:
    street = _put(tmp_path, "police/northshire_police/2024-01/2024-01-northshire-street.csv", b"street\n")
    north = _put(tmp_path, "northshire_council/asb/2024-02/asb.csv", b"north\n")
    south = _put(tmp_path, "southmoor_council/asb/2024-02/asb.csv", b"south\n")
    _put(tmp_path, "southmoor_council/asb/2024-02/rejected/asb.csv", b"refused by the gate\n")
    _put(tmp_path, "not_in_plan/asb/2024-02/asb.csv")  # an agency the plan does not know is not looked at
    found, skipped = _scan(tmp_path)

    assert skipped == {}
    assert [(f.dataset, f.agency, f.period, f.name) for f in found] == [
        ("asb", "northshire_council", "2024-02", "asb.csv"),
        ("street_crime", "northshire_police", "2024-01", "2024-01-northshire-street.csv"),
        ("asb", "southmoor_council", "2024-02", "asb.csv"),
    ]
    for item, path in zip(found, (north, street, south), strict=True):
        assert item.relative_path == path.relative_to(tmp_path).as_posix()
        assert item.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert item.size == path.stat().st_size
        assert item.modified == datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        assert item.url == f"file://{path}"
    assert found[0].to_dict()["modified"] == found[0].modified.isoformat()


def test_one_datasets_listing_never_looks_into_another_datasets_folders(tmp_path: Path) -> None:
    _put(tmp_path, "police/northshire_police/2024-01/2024-01-northshire-street.csv", b"street\n")
    _put(tmp_path, "police/northshire_police/2024-01/extra/stray.csv")  # reported only if the folder is read
    _put(tmp_path, "northshire_council/asb/2024-02/asb.csv", b"north\n")
    everything, skipped_all = _scan(tmp_path)
    assert list(skipped_all) == ["police/northshire_police/2024-01/extra"]
    skipped: list[SkippedEntry] = []
    asb = list_deliveries(str(tmp_path), PLAN, skipped=skipped, dataset_id="asb")
    assert asb == [f for f in everything if f.dataset == "asb"] and len(asb) == 1
    assert skipped == []


def test_hostile_entries_are_skipped_with_reasons(tmp_path: Path) -> None:
    period = tmp_path / "northshire_council" / "asb" / "2024-02"
    good = _put(period, "asb.csv")
    for name in (".hidden.csv", "bad\nname.csv", "..\\x.csv", "rtl\u202evsc.csv"):
        _put(period, name)
    _put(period, "nested/asb.csv")
    _put(period.parent, "stray.csv")
    for bad_period in ("2024-13", "2024-1", "202402", "2024-02-01", ".2024-02"):
        _put(period.parent, f"{bad_period}/asb.csv")
    found, skipped = _scan(tmp_path)

    assert [f.relative_path for f in found] == [good.relative_to(tmp_path).as_posix()]
    asb = "northshire_council/asb"
    assert skipped == {
        f"{asb}/2024-02/.hidden.csv": "hidden file",
        f"{asb}/2024-02/bad\\x0aname.csv": "control or invisible character U+000A in the name",
        f"{asb}/2024-02/..\\x.csv": "path traversal",
        f"{asb}/2024-02/rtl\\u202evsc.csv": "control or invisible character U+202E in the name",
        f"{asb}/2024-02/nested": "subfolder in a period folder (deliveries go directly in it)",
        f"{asb}/stray.csv": "file outside a YYYY-MM period folder",
        f"{asb}/2024-13": "period folder is not named YYYY-MM",
        f"{asb}/2024-1": "period folder is not named YYYY-MM",
        f"{asb}/202402": "period folder is not named YYYY-MM",
        f"{asb}/2024-02-01": "period folder is not named YYYY-MM",
        f"{asb}/.2024-02": "hidden file",
    }


def test_symbolic_links(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    outside = _put(tmp_path, "secret.csv", b"not for the pipeline\n")
    _put(tmp_path, "elsewhere/2024-03/asb.csv", b"outside period\n")
    period = root / "northshire_council" / "asb" / "2024-02"
    target = _put(period, "asb.csv", b"inside\n")
    (period / "escape.csv").symlink_to(outside)
    (period / "relative-escape.csv").symlink_to("../../../../secret.csv")
    (period / "alias.csv").symlink_to("asb.csv")  # stays inside the root: taken as the file it names
    (period / "broken.csv").symlink_to("missing.csv")
    (period.parent / "2024-03").symlink_to(tmp_path / "elsewhere" / "2024-03")
    (root / "southmoor_council").mkdir(parents=True)
    (root / "southmoor_council" / "asb").symlink_to(tmp_path / "elsewhere")
    os.mkfifo(period / "pipe.csv")
    os.link(outside, period / "hard.csv")  # a hard link: its other name is outside (issue 19)
    found, skipped = _scan(root)

    assert [f.name for f in found] == ["alias.csv", "asb.csv"]
    assert found[0].sha256 == found[1].sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    asb = "northshire_council/asb"
    assert skipped == {
        f"{asb}/2024-02/escape.csv": "symbolic link pointing outside the landing zone",
        f"{asb}/2024-02/relative-escape.csv": "symbolic link pointing outside the landing zone",
        f"{asb}/2024-02/broken.csv": "broken symbolic link",
        f"{asb}/2024-02/pipe.csv": "not a regular file or folder",
        f"{asb}/2024-02/hard.csv": "hard link (the file has another name, perhaps outside the landing zone)",
        f"{asb}/2024-03": "symbolic link pointing outside the landing zone",
        "southmoor_council/asb": "folder is a link pointing outside the landing zone",
    }


class _LyingFileSystem(LocalFileSystem):
    """A local filesystem whose listings also name paths outside the folder, as a hostile server could."""

    cachable = False

    def ls(self, path: str, detail: bool = False, **kwargs: Any) -> list[Any]:
        out = super().ls(path, detail=detail, **kwargs)
        if detail and path.endswith("2024-02"):
            fake = {"type": "file", "size": 1, "mtime": 0.0, "islink": False}
            out += [{**fake, "name": f"{path}/../../../../escape.csv"}, {**fake, "name": "/etc/passwd"}]
        return out


def test_names_from_a_lying_listing_are_not_followed(tmp_path: Path) -> None:
    _put(tmp_path, "northshire_council/asb/2024-02/asb.csv")
    attach(protocol="file", conn_id="lying_listing", fs=_LyingFileSystem())
    root = ObjectStoragePath(str(tmp_path), protocol="file", conn_id="lying_listing")
    assert isinstance(root.fs, _LyingFileSystem)
    found, skipped = _scan(root)

    assert [f.name for f in found] == ["asb.csv"]
    period = "northshire_council/asb/2024-02"
    assert skipped == {
        f"{period}/../../../../escape.csv": "path traversal",
        f"{period}//etc/passwd": "listed outside its folder",
    }


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match="does not exist"):
        list_deliveries(tmp_path / "missing", PLAN)


# ------------------------------------------------------------------------------------------------- cache


def test_fetch_to_local_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    source = _put(root, "northshire_council/asb/2024-02/ASB Export.CSV", b"x,y\n1,2\n")
    _put(root, "southmoor_council/asb/2024-02/no-extension", b"x,y\n1,2\n")  # same content, same copy
    cache = tmp_path / "cache"
    found, _ = _scan(root)
    first = fetch_to_local(found[0], str(root), cache)

    digest = hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    assert first == cache / digest[:2] / f"{digest}.csv" == cache_path(found[0], cache)
    assert first.read_bytes() == source.read_bytes()
    state = (first.stat().st_ino, first.stat().st_mtime_ns)
    source.unlink()  # a second call must not need the source at all
    assert fetch_to_local(found[0], landing_root(str(root)), cache) == first
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == state
    other = fetch_to_local(found[1], str(root), cache)
    assert other.name == f"{digest}.bin"
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == sorted([first.name, other.name])


def test_fetch_to_local_verifies_the_hash(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    source = _put(root, "northshire_council/asb/2024-02/asb.csv", b"as listed\n")
    [item] = _scan(root)[0]
    source.write_bytes(b"replaced after listing\n")
    with pytest.raises(LandingError, match="changed since it was listed"):
        fetch_to_local(item, str(root), tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # no partial, no wrong copy


def test_fetch_to_local_refuses_hostile_records(tmp_path: Path) -> None:
    base = LandedFile(
        "asb", "x", "2024-02", "x.csv", "x/asb/2024-02/x.csv", 1, datetime.now(UTC), "0" * 64, "file:///x"
    )
    with pytest.raises(LandingError, match="refusing to read"):
        fetch_to_local(
            LandedFile(**{**base.__dict__, "relative_path": "x/asb/../../../etc/passwd"}),
            str(tmp_path),
            tmp_path,
        )
    with pytest.raises(LandingError, match="not a SHA-256"):
        fetch_to_local(LandedFile(**{**base.__dict__, "sha256": "../../x"}), str(tmp_path), tmp_path)
