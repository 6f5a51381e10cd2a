"""Fault injection on the real CLI, Airflow (dag.test), DuckDB and dbt, each followed by a recovery check.

A small demo region is run once cleanly; every case copies it to its own folder, injects one fault
(a killed process group mid-load or mid-dbt, a delivery repeated, a truncated transfer, a full disk)
and must end with the clean run's marts: same checksums of the ordered marts, same raw row count, no
delivery stored without all of its rows. Where a failure is expected, the CLI's last stderr line
names the cause.

The publish chain is killed (SIGKILL) at each of its steps from the same clean warehouse: before a
release becomes visible, between its rename and its pointer, after every release, mid-deliver and
mid-notify; a re-run must release, deliver and announce (over SMTP on loopback) each pack exactly once.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import BIN, cli_env, run_cli
from test_end_to_end import mart_checksums

pytestmark = pytest.mark.integration

DUP = "2021-05/2021-05-northshire-street.csv"
SEED = 20261125


def _run(region: Path, warehouse: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "run", "--region", str(region / "region.yaml"), "--warehouse", str(warehouse), timeout=timeout
    )


def _last_err(proc: subprocess.CompletedProcess[str] | tuple[int, str]) -> str:
    stderr = proc.stderr if isinstance(proc, subprocess.CompletedProcess) else proc[1]
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list]:
    from csp_audit_demo.region import generate_demo_region

    base = tmp_path_factory.mktemp("faults")
    region = base / "region"
    generate_demo_region(region, months=3, scale=0.2)
    warehouse = base / "clean" / "warehouse.duckdb"
    _ok(_run(region, warehouse))
    return region, mart_checksums(warehouse), _reconciliation(warehouse)


def _reconciliation(warehouse: Path) -> list:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select source_file, rows_read, rows_counted, rows_duplicate, rows_unlocated, "
            "rows_outside_region, rows_quarantined from audit.reconciliation where outcome = 'loaded' order by all"
        ).fetchall()


def _copy(region: Path, dest: Path) -> Path:
    shutil.copytree(region, dest)
    return dest


def _assert_recovered(
    warehouse: Path, clean: tuple[Path, dict[str, str], list], *, refused: str | None = None
) -> None:
    """The clean run's marts. With ``refused`` (a file the gate refused whole), the reconciliation also
    lists that file as rejected, and the yearly figures name its month as missing (issue 16)."""
    region, sums, recon = clean
    got = mart_checksums(warehouse)
    if refused is not None:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.execute(
                "select source_file, rows_counted from audit.reconciliation where outcome = 'rejected'"
            ).fetchall() == [(refused, 0)]
            gaps = {
                r[0]
                for r in con.execute("select incomplete_data from audit.partnership_crime_yearly").fetchall()
            }
            yearly = con.execute(
                "select * exclude (incomplete_data) from audit.partnership_crime_yearly order by all"
            )
            yearly = yearly.fetchall()
        month = refused.split("/", 1)[0]
        assert gaps - {None} and all(g is None or month in g for g in gaps), gaps
        with duckdb.connect(str(region.parent / "clean" / "warehouse.duckdb"), read_only=True) as con:
            assert (
                yearly
                == con.execute(
                    "select * exclude (incomplete_data) from audit.partnership_crime_yearly order by all"
                ).fetchall()
            )
        sums = {k: v for k, v in sums.items() if k not in ("reconciliation", "partnership_crime_yearly")}
        got = {k: v for k, v in got.items() if k in sums}
    assert got == sums
    assert _reconciliation(warehouse) == recon
    _assert_whole_deliveries(warehouse)


def _assert_whole_deliveries(warehouse: Path) -> tuple[int, int]:
    """Every stored delivery has exactly its rows_read rows; returns (deliveries, rows)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        if "ds__police_uk_street" not in tables:
            return 0, 0
        bad = con.execute(
            "select d.source_file, d.rows_read, count(r._sha256) from raw.deliveries d "
            "left join raw.ds__police_uk_street r on r._sha256 = d.sha256 "
            "group by all having count(r._sha256) <> d.rows_read"
        ).fetchall()
        orphans = con.execute(
            "select count(*) from raw.ds__police_uk_street where _sha256 not in (select sha256 from raw.deliveries)"
        ).fetchone()[0]
        deliveries, rows = con.execute(
            "select count(*), (select count(*) from raw.ds__police_uk_street) from raw.deliveries"
        ).fetchone()
    assert not bad, f"deliveries without all their rows: {bad}"
    assert orphans == 0
    return deliveries, rows


def _run_and_kill(
    region: Path,
    warehouse: Path,
    marker: str,
    delay: float,
    timeout: float = 600,
    trigger: Callable[[], bool] | None = None,
) -> str:
    """Start the CLI in its own session, SIGKILL its process group `delay` s after a stdout line
    containing `marker`; returns the stdout seen. Bounded by `timeout`; never leaves the group alive."""
    proc = subprocess.Popen(
        [
            str(BIN / "csp-audit"),
            "run",
            "--region",
            str(region / "region.yaml"),
            "--warehouse",
            str(warehouse),
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    hit = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                hit.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not hit.is_set() and proc.poll() is None and time.monotonic() < deadline:
            hit.wait(0.05)
        assert hit.is_set(), f"never saw {marker!r}; rc={proc.poll()}\n" + "".join(seen)[-3000:]
        time.sleep(delay)
        while trigger is not None and not trigger() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
        thread.join(timeout=10)
    return "".join(seen)


@pytest.mark.parametrize("window", [(0.0, 1.5)])  # the commit-watching case below lands inside the load
def test_kill_mid_load_then_rerun_recovers(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path, window: tuple[float, float]
) -> None:
    region = _copy(clean[0], tmp_path / "region")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    delay = random.Random(f"{SEED}-{window}").uniform(*window)  # seeded; the load step follows in ~0.1-1 s
    out = _run_and_kill(region, warehouse, "accepted,", delay)
    assert "[csp-audit] validate police_uk_street:" in out
    files = len(list((region / "police").rglob("*-street.csv")))
    deliveries, _ = _assert_whole_deliveries(warehouse)  # partial state: whole deliveries only
    assert deliveries <= files
    print(f"killed {delay:.2f} s after validate: {deliveries}/{files} deliveries stored")
    proc = _run(region, warehouse)
    _ok(proc)
    _assert_recovered(warehouse, clean)


def test_kill_right_after_first_delivery_commit_then_rerun_recovers(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path
) -> None:
    """Kill inside the load step: as soon as its first delivery commits (the load step deletes that
    delivery's parsed Parquet copy after the commit), while the other deliveries are still to load."""
    region = _copy(clean[0], tmp_path / "region")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    parsed = warehouse.parent / "parsed"
    files = len(list((region / "police").rglob("*-street.csv")))

    def first_commit() -> bool:
        return 0 < len(list(parsed.glob("*.parquet"))) < files if parsed.is_dir() else False

    _run_and_kill(region, warehouse, "accepted,", 0.0, trigger=first_commit)
    deliveries, rows = _assert_whole_deliveries(warehouse)
    print(f"killed after the first commit: {deliveries}/{files} deliveries, {rows} rows stored")
    assert 1 <= deliveries < files  # a partial load: some whole deliveries, none half-stored
    proc = _run(region, warehouse)
    _ok(proc)
    assert f"load police_uk_street: {files - deliveries} new deliveries" in proc.stdout
    _assert_recovered(warehouse, clean)


def test_kill_mid_dbt_build_then_rerun_recovers(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path
) -> None:
    region = _copy(clean[0], tmp_path / "region")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    _run_and_kill(region, warehouse, "[csp-audit] dbt: building", random.Random(SEED).uniform(1, 3))
    _assert_whole_deliveries(warehouse)
    proc = _run(region, warehouse)
    _ok(proc)
    _assert_recovered(warehouse, clean)


def test_same_file_delivered_twice_loads_once(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path
) -> None:
    region = _copy(clean[0], tmp_path / "region")
    extra = region / "police" / "extra" / DUP
    extra.parent.mkdir(parents=True)
    shutil.copyfile(region / "police" / DUP, extra)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    proc = _run(region, warehouse)
    _ok(proc)
    assert "has the same content as a file already loaded; skipped" in proc.stdout
    _assert_recovered(warehouse, clean)


def test_truncated_transfer_is_rejected_and_nothing_of_it_loads(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path
) -> None:
    region = _copy(clean[0], tmp_path / "region")
    text = (region / "police" / "2021-06" / "2021-06-northshire-street.csv").read_text(encoding="utf-8")
    text = text.replace(",2021-06,", ",2021-07,")
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    cut = "".join(lines[:middle]) + lines[middle][: len(lines[middle]) // 2]  # an interrupted transfer
    target = region / "police" / "2021-07" / "2021-07-northshire-street.csv"
    target.parent.mkdir()
    target.write_text(cut, encoding="utf-8")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    proc = _run(region, warehouse)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    cause = _last_err(proc)
    assert "2021-07/2021-07-northshire-street.csv" in cause, cause
    assert f"line {middle + 1}" in cause, cause
    assert "field_count" in cause or "csv_syntax" in cause, cause
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert not con.execute(
            "select count(*) from raw.ds__police_uk_street where _source_file like '2021-07/%'"
        ).fetchone()[0]
    _assert_recovered(warehouse, clean, refused="2021-07/2021-07-northshire-street.csv")


def test_disk_full_fails_with_one_line_cause_then_recovers(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path
) -> None:
    region = _copy(clean[0], tmp_path / "region")
    mnt = tmp_path / "small"
    mnt.mkdir()
    try:
        mount = ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)]
        subprocess.run(mount, check=True, capture_output=True, timeout=30)
    except (subprocess.CalledProcessError, FileNotFoundError, PermissionError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        warehouse = mnt / "warehouse.duckdb"
        proc = _run(region, warehouse, timeout=600)
        assert proc.returncode != 0, proc.stdout[-2000:]
        cause = _last_err(proc)
        named = ("space", "disk", "io error", "i/o")
        assert any(word in proc.stderr.lower() for word in named), proc.stderr[-3000:]
        one_line = cause.startswith("csp-audit: error:") and any(word in cause.lower() for word in named)
        subprocess.run(
            ["mount", "-o", "remount,size=200m", str(mnt)], check=True, capture_output=True, timeout=30
        )
        proc = _run(region, warehouse)
        _ok(proc)
        _assert_recovered(warehouse, clean)
        assert one_line, f"the failure must end in one line naming the cause, got: {cause}"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True, timeout=60)


def test_load_step_retried_loads_nothing_twice(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path
) -> None:
    """The DAG's load task run twice (an Airflow retry): the second attempt loads 0 rows."""
    from csp_audit.steps import ingest

    region = _copy(clean[0], tmp_path / "region")
    region_file, warehouse = str(region / "region.yaml"), str(tmp_path / "wh" / "warehouse.duckdb")
    files = ingest.discover(region_file, warehouse, "police_uk_street")
    ingest.validate(region_file, warehouse, "police_uk_street", files)
    first = ingest.load(region_file, warehouse, "police_uk_street", files)
    second = ingest.load(region_file, warehouse, "police_uk_street", files)
    assert first["loaded_rows"] == int(clean[1]["raw_rows"])
    assert second == {"loaded_files": 0, "loaded_rows": 0}
    assert _assert_whole_deliveries(Path(warehouse)) == (len(files), int(clean[1]["raw_rows"]))


# ------------------------------------------------------------------------------------------ publish
#
# A publish SIGKILLed at a fault point of the chain (csp_audit.faults: the process kills itself when
# $CSP_AUDIT_FAULT_POINT names the point it has reached), then run again: every pack released once,
# delivered to every outbox once, every partnership told once over a real SMTP server on loopback, and no
# half-written release visible at any time. The last case kills and re-runs `csp-audit publish` itself (the
# publish DAG through dag.test(), dbt docs included); the others kill and re-run the same chain of step
# functions the DAG's tasks call (steps.publish.publish, without the docs) in a child process, which costs
# a quarter of the time.

PUBLISH_KILLS = {
    # fault point (@n: the n-th time it is reached) -> what the killed run has done, checked before the re-run
    "release:staged@3": "two packs released; the third complete in its hidden staging folder, not released",
    "release:visible@2": "one pack released; the second renamed into place, before latest and releases.csv",
    "publish:released": "every pack released; nothing delivered",
    "deliver:partnership": "every pack released; one delivered",
    "notify:partnership": "every pack released and delivered; one partnership told",
}
# (released, latest pointed, staging left, unannounced, delivered, messages) after the kill
KILLED_STATE = {
    "release:staged@3": (2, 2, 1, 2, 0, 0),
    "release:visible@2": (2, 1, 0, 2, 0, 0),
    "publish:released": (5, 5, 0, 5, 0, 0),
    "deliver:partnership": (5, 5, 0, 5, 1, 0),
    "notify:partnership": (5, 5, 0, 4, 5, 1),
}
VIA_CLI = {"notify:partnership"}
_STEPS = (
    "import sys; from csp_audit.steps.publish import publish; "
    "publish(sys.argv[1], sys.argv[2], region_file=sys.argv[3], refresh_label='faults', docs=False)"
)


@pytest.fixture
def smtp() -> Iterator[tuple[int, Any]]:
    """A real SMTP server on a free loopback port (test_publish_smtp's) and its mailbox."""
    from test_publish_smtp import smtp_on_loopback

    with smtp_on_loopback() as found:
        yield found


def _publish(command: list[str], env: dict[str, str], fault: str | None = None) -> tuple[int, str, str]:
    """A publish in its own session: (returncode, stdout, stderr). Never leaves the group alive."""
    from csp_audit.faults import FAULT_ENV

    proc = subprocess.Popen(
        command,
        env={**env, FAULT_ENV: fault} if fault else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    return proc.returncode, stdout, stderr


def _visible_releases(out: Path, codes: list[str]) -> dict[str, list[str]]:
    """Every version folder a reader can see, per partnership; each must be whole (its manifest holds)."""
    from csp_audit.packs import release as rel
    from csp_audit.packs.build import verify_manifest

    found = {code: rel.versions(out / code) for code in codes}
    for code, names in found.items():
        for name in names:
            assert verify_manifest(out / code / name) == [], f"{code}/{name} is visible but not whole"
    return found


def _delivered(outbox: Path, codes: list[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per partnership with a DELIVERED release: every outbox file's (inode, mtime in ns)."""
    from csp_audit.packs.deliver import DELIVERED

    out = {}
    for code in codes:
        folder = outbox / code / "v0001"
        if (folder / DELIVERED).is_file():
            out[code] = {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
                         for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip
    return out


def _told(mailbox: Any, contacts: dict[str, str]) -> dict[str, int]:
    """Messages received per partnership (by its one contact)."""
    by_address = {address: code for code, address in contacts.items()}
    counts: dict[str, int] = {}
    with mailbox.lock:
        for received in mailbox.messages:
            for address in received.recipients:
                counts[by_address[address]] = counts.get(by_address[address], 0) + 1
    return counts


@pytest.mark.parametrize("point", list(PUBLISH_KILLS))
def test_publish_killed_then_rerun_releases_delivers_and_tells_each_partnership_once(
    clean: tuple[Path, dict[str, str], list], tmp_path: Path, smtp: tuple[int, Any], point: str
) -> None:
    import hashlib
    import json

    from csp_audit.packs import release as rel
    from csp_audit.packs.deliver import DELIVERED

    port, mailbox = smtp
    region = clean[0]
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    shutil.copytree(region.parent / "clean" / "airflow", warehouse.parent / "airflow")  # migrated already
    shutil.copyfile(region.parent / "clean" / "warehouse.duckdb", warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        codes = [r[0] for r in con.execute("select distinct partnership_code from audit.area_rates order by 1").fetchall()]  # fmt: skip
    assert len(codes) == 5
    contacts = {code: f"team@{code.lower()}.example" for code in codes}
    (tmp_path / "contacts.csv").write_text(
        "partnership_code,email\n" + "".join(f"{c},{a}\n" for c, a in contacts.items()), encoding="utf-8"
    )
    smtp_conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                 "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "audit@csp.example",
                           "timeout": 30, "retry_limit": 0}}  # fmt: skip
    env = cli_env() | {
        "CSP_AUDIT_PACK_PDF": "0",  # what a kill leaves is under test, not the print: releases without PDFs
        "CSP_AUDIT_CONTACTS": str(tmp_path / "contacts.csv"),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp_conn),
    }
    out, outbox = tmp_path / "publish", tmp_path / "publish" / "outbox"
    if point in VIA_CLI:
        command = [str(BIN / "csp-audit"), "publish", "--region", str(region / "region.yaml"),
                   "--warehouse", str(warehouse), "--out", str(out), "--label", "faults"]  # fmt: skip
    else:
        command = [str(BIN / "python"), "-c", _STEPS, str(warehouse), str(out), str(region / "region.yaml")]
        env |= {"AIRFLOW_HOME": str(warehouse.parent / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}

    # the killed run: SIGKILLed at the point, having done what PUBLISH_KILLS says and nothing more
    code, stdout, stderr = _publish(command, env, fault=point)
    assert code == -signal.SIGKILL, f"rc={code}\n{stdout[-2000:]}\n{stderr[-3000:]}"
    assert f"fault point {point}: SIGKILL" in stderr
    visible = _visible_releases(out, codes)  # no half-written release visible
    released = [c for c in codes if visible[c]]
    pointed = [c for c in codes if rel.read_latest(out / c) is not None]
    staging = [c for c in codes if any(p.name.startswith(rel.STAGING) for p in (out / c).glob(".*"))]
    marked = [c for c in codes if rel.unannounced_versions(out / c) == ["v0001"]]
    delivered = _delivered(outbox, codes)
    state = (len(released), len(pointed), len(staging), len(marked), len(delivered), sum(_told(mailbox, contacts).values()))  # fmt: skip
    what = "released, pointed, staging, unannounced, delivered, told"
    assert state == KILLED_STATE[point], (
        f"{PUBLISH_KILLS[point]}: ({what}) = {state} != {KILLED_STATE[point]}"
    )

    # the re-run completes it all, once
    code, stdout, stderr = _publish(command, env)
    assert code == 0, f"{stdout[-2000:]}\n{stderr[-3000:]}"
    assert _visible_releases(out, codes) == {c: ["v0001"] for c in codes}
    for c in codes:
        folder = out / c
        assert rel.read_latest(folder) == "v0001", c
        log = rel.read_log(folder)
        assert [r["version"] for r in log if r["outcome"] == "new"] == ["v0001"], (c, log)
        assert [r["outcome"] for r in log[1:]] == ["unchanged"] * (len(log) - 1), (c, log)
        assert sorted(p.name for p in folder.glob(".*")) == [".lock"], f"{c}: leftovers"
        assert sorted(p.name for p in (outbox / c).iterdir()) == ["latest", "v0001"], c
        assert (outbox / c / "latest").read_text().strip() == "v0001", c
        copy = outbox / c / "v0001"
        assert (copy / DELIVERED).read_text().startswith("v0001\n"), c
        manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
        for relative, digest in manifest["files"].items():
            assert hashlib.sha256((copy / relative).read_bytes()).hexdigest() == digest, (c, relative)
    now = _delivered(outbox, codes)
    for c, files in delivered.items():  # what the killed run delivered is not copied again
        assert now[c] == files, f"{c}: delivered again"
    assert _told(mailbox, contacts) == dict.fromkeys(codes, 1)
    with mailbox.lock:
        subjects = sorted(m.message["Subject"] for m in mailbox.messages)
    assert len(subjects) == 5 and all("audit pack v0001 (faults)" in s for s in subjects), subjects
