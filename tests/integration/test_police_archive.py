"""Pulling street files out of a police.uk monthly archive served over real HTTP on the loopback interface.

The archive is built here in the published layout (street, outcomes and stop-and-search files for three
forces over two months) with hostile members added, and served by ``http.server`` in a thread for this
module only. Every request goes to 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from csp_audit.sources.archive import ArchiveError, archive_url, fetch_police_archive
from csp_audit.sources.police_uk import discover

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FORCES = ("avon-and-somerset", "cleveland", "durham")
MONTHS = ("2024-01", "2024-02")
HOSTILE = (
    "../../evil-street.csv",
    "2024-01/../../2024-01-durham-street.csv",
    "/tmp/2024-01-durham-street.csv",
    "2024-01\\2024-01-durham-street.csv",
)
SLOW_SECONDS = 3.0


def _csv(kind: str, month: str, force: str) -> bytes:
    return f"Crime ID,Month,Falls within\n{kind}-{force},{month},{force}\n".encode()


def _archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for month in MONTHS:
            zf.mkdir(month)
            for force in FORCES:
                for kind in ("street", "outcomes", "stop-and-search"):
                    zf.writestr(f"{month}/{month}-{force}-{kind}.csv", _csv(kind, month, force))
        for name in HOSTILE:
            zf.writestr(zipfile.ZipInfo(name), b"Crime ID\nevil\n")
    return buffer.getvalue()


ARCHIVE = _archive()
BOMB = io.BytesIO()
with zipfile.ZipFile(BOMB, "w", zipfile.ZIP_DEFLATED) as _zf:
    _zf.writestr("2024-03/2024-03-durham-street.csv", b"0" * 5_000_000)  # compresses to a few KB
ROUTES: dict[str, bytes] = {
    "/archive/2024-02.zip": ARCHIVE,
    "/custom/archive-2024-02.zip": ARCHIVE,
    "/archive/2024-03.zip": BOMB.getvalue(),
    "/archive/2024-04.zip": b"PK\x03\x04 this is not really a zip" * 20,
    "/archive/2024-06.zip": ARCHIVE[: len(ARCHIVE) // 2],  # truncated: the central directory is missing
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow/2024-02.zip":
            time.sleep(SLOW_SECONDS)
        body = ROUTES.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback only: a proxy from the environment must not see these requests."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _state(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


def test_fetch_street_files_of_two_forces(
    base_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dest = tmp_path / "police"
    with caplog.at_level(logging.WARNING, logger="csp_audit.sources.archive"):
        got = fetch_police_archive(
            f"{base_url}/archive", "2024-02", ["durham", "cleveland"], dest, timeout=10
        )

    expected = sorted(dest / m / f"{m}-{f}-street.csv" for m in MONTHS for f in ("cleveland", "durham"))
    assert got == expected
    for path in got:
        month, force = path.parent.name, path.name[8:].removesuffix("-street.csv")
        assert path.read_bytes() == _csv("street", month, force)
    landed = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert landed == expected  # no outcomes, stop-and-search, other force, hostile member or temp file
    assert not (tmp_path / "evil-street.csv").exists() and not Path("/tmp/2024-01-durham-street.csv").exists()
    refused = [r.getMessage() for r in caplog.records if "refused member" in r.getMessage()]
    assert len(refused) == len(HOSTILE)
    assert any("'../../evil-street.csv': path traversal" in m for m in refused)
    assert any("absolute path" in m for m in refused) and any("backslash" in m for m in refused)
    # the layout is the one the pipeline discovers
    assert [f.source_file for f in discover(dest)] == [p.relative_to(dest).as_posix() for p in expected]

    before = _state(got)
    again = fetch_police_archive(f"{base_url}/archive", "2024-02", ["cleveland", "durham"], dest, timeout=10)
    assert again == got
    assert _state(again) == before  # unchanged files are not rewritten


def test_changed_file_is_replaced(base_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "police"
    [first, *_] = fetch_police_archive(f"{base_url}/archive", "2024-02", ["durham"], dest, timeout=10)
    first.write_bytes(b"edited by hand\n")
    fetch_police_archive(f"{base_url}/archive", "2024-02", ["durham"], dest, timeout=10)
    assert (
        hashlib.sha256(first.read_bytes()).hexdigest()
        == hashlib.sha256(_csv("street", "2024-01", "durham")).hexdigest()
    )


def test_url_pattern_is_a_parameter(base_url: str, tmp_path: Path) -> None:
    got = fetch_police_archive(
        base_url,
        "2024-02",
        ["avon-and-somerset"],
        tmp_path,
        url_pattern="{base_url}/custom/archive-{month}.zip",
    )
    assert [p.name for p in got] == [
        "2024-01-avon-and-somerset-street.csv",
        "2024-02-avon-and-somerset-street.csv",
    ]
    assert archive_url("https://data.police.uk/data/archive/", "2024-02") == (
        "https://data.police.uk/data/archive/2024-02.zip"
    )


@pytest.mark.parametrize(
    ("month", "kwargs", "message"),
    [
        ("2024-05", {}, r"/archive/2024-05\.zip: HTTP 404"),
        ("2024-04", {}, r"/archive/2024-04\.zip: (the download is not a zip archive|corrupt zip)"),
        ("2024-06", {}, r"/archive/2024-06\.zip: (the download is not a zip archive|corrupt zip)"),
        (
            "2024-02",
            {"max_download_bytes": 1000},
            r"/archive/2024-02\.zip: archive is \d+ bytes, over the 1000",
        ),
        (
            "2024-03",
            {"max_extract_bytes": 1_000_000},
            r"/archive/2024-03\.zip: .*over the 1000000-byte limit",
        ),
    ],
)
def test_clear_errors_name_the_url(
    base_url: str, tmp_path: Path, month: str, kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ArchiveError, match=message):
        fetch_police_archive(f"{base_url}/archive", month, ["durham"], tmp_path, timeout=10, **kwargs)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing half-written, temp files removed


def test_timeout_names_the_url(base_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ArchiveError, match=r"/slow/2024-02\.zip: timed out after 0\.5 s"):
        fetch_police_archive(f"{base_url}/slow", "2024-02", ["durham"], tmp_path, timeout=0.5)
    assert time.monotonic() - started < SLOW_SECONDS


def test_connection_refused_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    with pytest.raises(ArchiveError, match=rf"http://127\.0\.0\.1:{port}/2024-02\.zip: cannot connect"):
        fetch_police_archive(f"http://127.0.0.1:{port}", "2024-02", ["durham"], tmp_path, timeout=5)


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        fetch_police_archive("http://127.0.0.1:9", "2024-2", ["durham"], tmp_path)
    with pytest.raises(ValueError, match="slugs"):
        fetch_police_archive("http://127.0.0.1:9", "2024-02", ["../durham"], tmp_path)
    with pytest.raises(ValueError, match="http"):
        fetch_police_archive("file:///etc", "2024-02", ["durham"], tmp_path)
