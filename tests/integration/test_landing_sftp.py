"""The landing zone over SFTP against a real OpenSSH server, reached through Airflow's ObjectStoragePath.

A private ``sshd`` (its own config, host key and client key pair, key-only login, ``internal-sftp`` only)
listens on a free loopback port for this module and is stopped at the end together with every session
process it forked. The Airflow connection comes from ``AIRFLOW_CONN_SFTP_LANDING`` and pins the server's
host key, so the test also proves the connection is verified the way Airflow's SFTP tasks verify it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from csp_audit.plan.model import Cycle, DataPlan, Dataset, Geography, Sharing
from csp_audit.plan.periods import Month
from csp_audit.sources.landing import (
    LandingConfigError,
    LandingError,
    SkippedEntry,
    close_landing,
    fetch_to_local,
    landing_root,
    list_deliveries,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SSHD = Path("/usr/sbin/sshd")
CONN_ID = "sftp_landing"
WRONG_KEY_CONN_ID = "sftp_landing_wrong_key"
STREET = b"Crime ID,Month\nabc,2024-01\n"
ASB = b"Crime ID,Month\n,2024-02\n"


def _install_openssh() -> str | None:
    """Install Debian's openssh-server if sshd is missing; the reason it cannot be, or None on success.

    A temporary ``policy-rc.d`` stops the package from starting the system ssh service during the install,
    so nothing is left listening on port 22 (only this module's own sshd is ever started).
    """
    if SSHD.exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "sshd is missing and cannot be installed here (needs root and apt-get)"
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if made_policy:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        for cmd, limit in (
            (["apt-get", "update"], 300),
            (["apt-get", "install", "-y", "--no-install-recommends", "openssh-server"], 600),
        ):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=limit, check=False)
            if proc.returncode != 0:
                return f"{' '.join(cmd)} failed: {proc.stderr[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"installing openssh-server failed: {exc}"
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    return None if SSHD.exists() else "openssh-server installed but /usr/sbin/sshd is still missing"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    """Ready when the SSH banner is read; fail early with sshd's log if it exits."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"sshd exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not answer on port {port}: {log.read_text(errors='replace')[-2000:]}")


def _descendants(pid: int) -> list[int]:
    """Every process below pid (sshd forks one or two per connection, in their own sessions)."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop this module's sshd and its session processes, by pid; SIGKILL what does not exit in 5 s."""
    pids = [*_descendants(proc.pid), proc.pid]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    for pid in pids[:-1]:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass(frozen=True)
class Server:
    port: int
    sftp_root: Path  # the landing zone's folder as the server sees it (same machine)
    proc: subprocess.Popen[bytes]


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "csp-audit-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = _install_openssh()
    if reason:
        pytest.skip(reason)
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is missing")
    base = tmp_path_factory.mktemp("sshd")
    host_key, client_key = base / "host_ed25519", base / "client_ed25519"
    _keygen(host_key)
    _keygen(client_key)
    (base / "authorized_keys").write_bytes(client_key.with_suffix(".pub").read_bytes())
    user = getpass.getuser()
    port = _free_port()
    config = base / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {base / 'sshd.pid'}",
                f"AuthorizedKeysFile {base / 'authorized_keys'}",
                f"AllowUsers {user}",
                "PermitRootLogin prohibit-password",  # only in this throw-away config: key login, sftp only
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "AllowTcpForwarding no",
                "AllowAgentForwarding no",
                "X11Forwarding no",
                "PermitTTY no",
                "Subsystem sftp internal-sftp",
                "ForceCommand internal-sftp",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    check = subprocess.run(
        [str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    assert check.returncode == 0, check.stderr
    log = base / "sshd.log"
    proc = subprocess.Popen(
        [str(SSHD), "-D", "-f", str(config), "-E", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    saved = {
        key: os.environ.get(key)
        for key in ("AIRFLOW_CONN_SFTP_LANDING", "AIRFLOW_CONN_SFTP_LANDING_WRONG_KEY")
    }
    try:
        _wait_for_banner(port, proc, log, time.monotonic() + 20)
        extra = {
            "key_file": str(client_key),
            "host_key": host_key.with_suffix(".pub").read_text().strip(),
            "look_for_keys": "false",
            "conn_timeout": 10,
            "conn_retry_attempts": 1,
        }
        conn = {"conn_type": "sftp", "host": "127.0.0.1", "port": port, "login": user, "extra": extra}
        os.environ["AIRFLOW_CONN_SFTP_LANDING"] = json.dumps(conn)
        other = base / "other_ed25519"
        _keygen(other)
        wrong = {**conn, "extra": {**extra, "host_key": other.with_suffix(".pub").read_text().strip()}}
        os.environ["AIRFLOW_CONN_SFTP_LANDING_WRONG_KEY"] = json.dumps(wrong)
        sftp_root = base / "srv" / "landing"
        sftp_root.mkdir(parents=True)
        yield Server(port, sftp_root, proc)
    finally:
        _stop(proc)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert proc.poll() is not None


def _plan() -> DataPlan:
    """Two datasets: one in the default ``<agency>/<dataset>`` folder, one with the plan's own template."""

    def dataset(ds_id: str, agencies: tuple[str, ...], landing: str = "{agency}/{dataset}") -> Dataset:
        return Dataset(
            ds_id, agencies, "test", "csv", (), Geography("lsoa", 2021), "month", "monthly", 10, None,
            Sharing("aggregate"), landing,
        )  # fmt: skip

    return DataPlan(
        name="test",
        source=Path("/nonexistent/plan.yaml"),
        region=Path("/nonexistent"),
        cycle=Cycle(Month(2024, 1), 12),
        agencies={},
        datasets={
            "street_crime": dataset("street_crime", ("northshire_police",), "police/{agency}"),
            "asb": dataset("asb", ("northshire_council", "southmoor_council")),
        },
    )


def _put(root: Path, relative: str, data: bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def landed(sftp_server: Server) -> dict[str, bytes]:
    """Good deliveries plus hostile entries, written where the server will serve them."""
    root = sftp_server.sftp_root
    good = {
        "police/northshire_police/2024-01/2024-01-northshire-street.csv": STREET,
        "northshire_council/asb/2024-02/asb export.csv": ASB,
        "southmoor_council/asb/2024-02/asb.csv": ASB + b"more,2024-02\n",
    }
    for relative, data in good.items():
        _put(root, relative, data)
    period = root / "northshire_council" / "asb" / "2024-02"
    _put(root, "northshire_council/asb/2024-02/../x.csv", b"up one level\n")  # lands beside the periods
    _put(period, ".hidden.csv", b"hidden\n")
    _put(period, "bad\nname.csv", b"newline\n")
    _put(period, "..\\y.csv", b"windows traversal\n")
    _put(period, "rejected/refused.csv", b"refused by the gate\n")
    (period / "passwd.csv").symlink_to("/etc/passwd")
    _put(root, "northshire_council/asb/2024-13/late.csv", b"no such month\n")
    return good


def test_list_deliveries_over_sftp(sftp_server: Server, landed: dict[str, bytes]) -> None:
    root = landing_root(f"sftp://127.0.0.1:{sftp_server.port}{sftp_server.sftp_root}", conn_id=CONN_ID)
    assert root.protocol == "sftp"
    skipped: list[SkippedEntry] = []
    found = list_deliveries(root, _plan(), skipped=skipped)

    assert [f.relative_path for f in found] == sorted(landed)
    for item in found:
        data = landed[item.relative_path]
        assert item.sha256 == hashlib.sha256(data).hexdigest()
        assert item.size == len(data)
        assert item.modified.tzinfo is not None and abs(time.time() - item.modified.timestamp()) < 600
        assert (
            item.url
            == f"sftp://127.0.0.1:{sftp_server.port}{sftp_server.sftp_root}/{item.relative_path}".replace(
                " ", "%20"
            )
        )
    street = next(f for f in found if f.dataset == "street_crime")
    assert (street.dataset, street.agency, street.period, street.name) == (
        "street_crime",
        "northshire_police",
        "2024-01",
        "2024-01-northshire-street.csv",
    )

    reasons = {entry.relative_path: entry.reason for entry in skipped}
    asb = "northshire_council/asb"
    assert reasons == {
        f"{asb}/x.csv": "file outside a YYYY-MM period folder",
        f"{asb}/2024-13": "period folder is not named YYYY-MM",
        f"{asb}/2024-02/.hidden.csv": "hidden file",
        f"{asb}/2024-02/bad\\x0aname.csv": "control or invisible character U+000A in the name",
        f"{asb}/2024-02/..\\y.csv": "path traversal",
        f"{asb}/2024-02/passwd.csv": "symbolic link (not followed on a remote landing zone)",
    }


def test_fetch_to_local_copies_once(sftp_server: Server, landed: dict[str, bytes], tmp_path: Path) -> None:
    root = landing_root(
        f"sftp://127.0.0.1{sftp_server.sftp_root}", conn_id=CONN_ID
    )  # port from the connection
    found = list_deliveries(root, _plan())
    cache = tmp_path / "cache"
    copies = {item.relative_path: fetch_to_local(item, root, cache) for item in found}
    for item in found:
        local = copies[item.relative_path]
        assert local == cache / item.sha256[:2] / f"{item.sha256}.csv"
        assert local.read_bytes() == landed[item.relative_path]
    before = {rel: (p.stat().st_ino, p.stat().st_mtime_ns) for rel, p in copies.items()}

    # The second call must not read the server: remove a source and it is still served from the cache.
    gone = found[0]
    (sftp_server.sftp_root / gone.relative_path).rename(sftp_server.sftp_root / f"{gone.relative_path}.moved")
    try:
        again = {item.relative_path: fetch_to_local(item, root, cache) for item in found}
    finally:
        (sftp_server.sftp_root / f"{gone.relative_path}.moved").rename(
            sftp_server.sftp_root / gone.relative_path
        )
    assert again == copies
    assert {rel: (p.stat().st_ino, p.stat().st_mtime_ns) for rel, p in again.items()} == before
    assert not [p for p in cache.rglob("*") if p.name.startswith(".partial-")]


def test_changed_file_is_not_cached(sftp_server: Server, tmp_path: Path) -> None:
    _put(sftp_server.sftp_root, "southmoor_council/asb/2024-03/changing.csv", b"first version\n")
    try:
        root = landing_root(f"sftp://127.0.0.1{sftp_server.sftp_root}", conn_id=CONN_ID)
        item = next(f for f in list_deliveries(root, _plan()) if f.name == "changing.csv")
        _put(sftp_server.sftp_root, "southmoor_council/asb/2024-03/changing.csv", b"second version\n")
        with pytest.raises(LandingError, match="changed since it was listed"):
            fetch_to_local(item, root, tmp_path / "cache")
        assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    finally:
        shutil.rmtree(sftp_server.sftp_root / "southmoor_council" / "asb" / "2024-03")


def test_host_key_is_verified(sftp_server: Server) -> None:
    """A connection whose pinned host key does not match the server's must not connect at all."""
    with pytest.raises(Exception, match="(?i)host key|not found in known_hosts|BadHostKey"):
        landing_root(f"sftp://127.0.0.1{sftp_server.sftp_root}", conn_id=WRONG_KEY_CONN_ID)


def test_url_must_agree_with_connection(sftp_server: Server) -> None:
    with pytest.raises(LandingConfigError, match="differs from connection"):
        landing_root(f"sftp://localhost{sftp_server.sftp_root}", conn_id=CONN_ID)
    with pytest.raises(LandingConfigError, match="needs conn_id"):
        landing_root(f"sftp://127.0.0.1{sftp_server.sftp_root}")


def test_close_then_reconnect(sftp_server: Server) -> None:
    """A dropped connection is re-opened by the next landing_root, as a long-lived worker needs."""
    root = landing_root(f"sftp://127.0.0.1{sftp_server.sftp_root}", conn_id=CONN_ID)
    assert landing_root(f"sftp://127.0.0.1{sftp_server.sftp_root}/x", conn_id=CONN_ID).fs is root.fs  # reused
    close_landing(root)
    root = landing_root(f"sftp://127.0.0.1{sftp_server.sftp_root}", conn_id=CONN_ID)
    assert root.is_dir()
    close_landing(root)  # leave no session process behind for the teardown to reap
