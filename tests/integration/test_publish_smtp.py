"""Publish end to end: analyst snapshot, packs, outbox through ObjectStoragePath, and notices through
Airflow's SmtpNotifier to a real SMTP server listening on loopback (a small RFC 5321 server on the
standard library's socketserver; aiosmtpd is not a dependency of the project).
"""

from __future__ import annotations

import csv
import email
import hashlib
import json
import shutil
import socketserver
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import duckdb
import pytest
from csp_audit.packs.build import PackRelease
from csp_audit.packs.deliver import DELIVERED, notify_releases
from csp_audit.steps import publish as pub

pytestmark = pytest.mark.integration

STALE_REASON = "rejected: fire_2024-01.csv line 7 rule count_not_negative"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data)

    def html(self) -> str:
        for part in self.message.walk():
            if part.get_content_type() == "text/html":
                return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        return ""


@dataclass
class Mailbox:
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SMTPHandler(socketserver.StreamRequestHandler):
    """Enough of RFC 5321 for a client: EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT."""

    timeout = 30

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        box: Mailbox = self.server.mailbox  # type: ignore[attr-defined]
        self.reply("220 localhost csp-audit test SMTP")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline(1000)
            if not raw:
                return
            line = raw.decode("ascii", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb == "EHLO":
                self.reply("250-localhost greets you")
                self.reply("250-8BITMIME")
                self.reply("250 SIZE 10485760")
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "MAIL":
                sender, recipients = line.split(":", 1)[1].strip().split()[0].strip("<>"), []
                self.reply("250 2.1.0 OK")
            elif verb == "RCPT":
                if not sender:
                    self.reply("503 5.5.1 MAIL first")
                    continue
                recipients.append(line.split(":", 1)[1].strip().split()[0].strip("<>"))
                self.reply("250 2.1.5 OK")
            elif verb == "DATA":
                if not recipients:
                    self.reply("554 5.5.1 no valid recipients")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                with box.lock:
                    box.messages.append(Received(sender, recipients, b"".join(lines)))
                sender, recipients = "", []
                self.reply("250 2.0.0 queued")
            elif verb == "RSET":
                sender, recipients = "", []
                self.reply("250 2.0.0 OK")
            elif verb == "NOOP":
                self.reply("250 2.0.0 OK")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 command not recognised")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    with smtp_on_loopback() as found:
        yield found


@contextmanager
def smtp_on_loopback() -> Iterator[tuple[int, Mailbox]]:
    """The SMTP server above on a free loopback port, and its mailbox, while the block runs."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.mailbox = Mailbox()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.mailbox  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_publish_delivers_to_the_outbox_and_notifies_over_smtp(
    demo_run: Path, tmp_path: Path, smtp_server: tuple[int, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, mailbox = smtp_server
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_run / "warehouse.duckdb", warehouse)
    with duckdb.connect(str(warehouse)) as con:  # one stale input, as the gate would leave it
        con.execute(
            "update audit.dataset_freshness set status = 'stale', reason = ? where dataset = 'fire_incidents'",
            [STALE_REASON],
        )
        codes = [
            r[0]
            for r in con.execute(
                "select distinct partnership_code from audit.area_rates order by 1"
            ).fetchall()
        ]
    first, second, third = codes[:3]
    contacts = tmp_path / "contacts.csv"
    with open(contacts, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([["partnership_code", "email", "name"], [first, "analyst@first.example", "Analyst"],
                          [first, "chair@first.example", "Chair"], [second, "team@second.example", "Team"]])  # fmt: skip
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("CSP_AUDIT_CONTACTS", str(contacts))
    monkeypatch.setenv("CSP_AUDIT_OUTBOX_URL", outbox.as_uri())
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": "audit@csp.example",
                    "timeout": 10,
                    "retry_limit": 0,
                },
            }
        ),  # fmt: skip
    )
    monkeypatch.delenv("CSP_AUDIT_SMTP_CONN_ID", raising=False)
    # delivery and notices are under test here, not the print (test_pack_pdf.py): releases without PDFs
    monkeypatch.setenv("CSP_AUDIT_PACK_PDF", "0")
    out = tmp_path / "publish"
    summary = pub.publish(warehouse, out, plan_file=demo_run / "plan.yaml", refresh_label="weekly-1",
                          partnerships=[first, second, third])  # fmt: skip

    # the analyst snapshot: read-only, named by analyst/latest, opens read-only
    snapshot = Path(summary["snapshot"])
    assert (out / "analyst" / "latest").read_text().strip() == snapshot.name
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o444
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select count(*) from audit.area_rates").fetchone()[0] > 0
    # the dbt docs site, generated from a writable copy of the snapshot (the snapshot itself is untouched)
    site = Path(summary["dbt_docs"])
    assert site == out / "analyst" / "dbt-docs" / "index.html" and site.stat().st_size > 100_000
    assert "area_rates" in (site.parent / "manifest.json").read_text()
    assert sorted(p.name for p in (out / "analyst").iterdir()) == ["dbt-docs", "latest", snapshot.name]

    # the outbox holds each new release, verified against its manifest, with the DELIVERED marker last
    assert {d["partnership_code"] for d in summary["deliveries"]} == {first, second, third}
    for code in (first, second, third):
        delivered = outbox / code / "v0001"
        manifest = json.loads((delivered / "manifest.json").read_text())
        for relative, digest in manifest["files"].items():
            assert hashlib.sha256((delivered / relative).read_bytes()).hexdigest() == digest
        assert (delivered / DELIVERED).read_text().startswith("v0001")
        assert {"report.html", "assessment.html"} <= set(manifest["files"])
        assert not [f for f in manifest["files"] if f.endswith(".pdf")], "CSP_AUDIT_PACK_PDF=0 prints nothing"
        assert (outbox / code / "latest").read_text().strip() == "v0001"

    # one message per partnership, to its contacts (the coordinator for the one without), over SMTP
    assert len(mailbox.messages) == 3
    by_rcpt = {tuple(sorted(m.recipients)): m for m in mailbox.messages}
    plan_text = (demo_run / "plan.yaml").read_text()
    coordinator = plan_text.split("contact:", 1)[1].split("}", 1)[0].strip()
    assert set(by_rcpt) == {
        ("analyst@first.example", "chair@first.example"),
        ("team@second.example",),
        (coordinator,),
    }
    names = {r["partnership_code"]: r["partnership_name"] for r in summary["releases"]}
    for recipients, code in ((("analyst@first.example", "chair@first.example"), first),
                             (("team@second.example",), second), ((coordinator,), third)):  # fmt: skip
        received = by_rcpt[recipients]
        message = received.message
        assert received.sender == "audit@csp.example" and message["From"] == "audit@csp.example"
        assert message["Subject"] == f"[csp-audit] {names[code]}: audit pack v0001 (weekly-1)"
        body = received.html()
        assert "first release" in body and "What is stale" in body
        assert "fire_incidents from fire_and_rescue" in body and "count_not_negative" in body
        assert (outbox / code / "v0001").as_uri() in body or str(outbox / code / "v0001") in body
        assert "report.html" in body and ".pdf" not in body  # the notice names only what was released
    assert {n["partnership_code"] for n in summary["notices"] if n["sent"]} == {first, second, third}

    # the notify task retried in the same run (Airflow gives it the same XCom: releases still "new"):
    # every partnership was told already, so nothing is sent again (issue 19)
    assert pub.notify(summary["releases"], summary["deliveries"], str(demo_run / "plan.yaml")) == []
    assert len(mailbox.messages) == 3

    # a refresh with nothing changed: no new version, nothing delivered, nobody mailed
    again = pub.publish(warehouse, out, plan_file=demo_run / "plan.yaml", refresh_label="weekly-2", docs=False,
                        partnerships=[first])  # fmt: skip
    assert [r["outcome"] for r in again["releases"]] == ["unchanged"]
    assert [d for d in again["deliveries"] if not d["already"]] == [] and again["notices"] == []
    assert len(mailbox.messages) == 3
    assert sorted(p.name for p in (outbox / first).iterdir()) == ["latest", "v0001"]

    # a publish killed after building the packs (nothing delivered, nobody told): the next publish, with
    # nothing changed, still delivers and announces them, once (issue 19)
    resumed_out, resumed_outbox = tmp_path / "publish-killed", tmp_path / "outbox-killed"
    monkeypatch.setenv("CSP_AUDIT_OUTBOX_URL", resumed_outbox.as_uri())
    built = pub.build_and_release(summary["snapshot"], str(resumed_out), str(demo_run / "plan.yaml"),
                                  "weekly-1", [second])  # fmt: skip
    assert [r["outcome"] for r in built] == ["new"] and not resumed_outbox.exists()
    resumed = pub.publish(warehouse, resumed_out, plan_file=demo_run / "plan.yaml", refresh_label="weekly-2",
                          docs=False, partnerships=[second])  # fmt: skip
    assert [r["outcome"] for r in resumed["releases"]] == ["unchanged"]
    assert (resumed_outbox / second / "v0001" / DELIVERED).is_file()
    assert [n["partnership_code"] for n in resumed["notices"] if n["sent"]] == [second]
    assert len(mailbox.messages) == 4
    once_more = pub.publish(warehouse, resumed_out, plan_file=demo_run / "plan.yaml", refresh_label="weekly-3",
                            docs=False, partnerships=[second])  # fmt: skip
    assert once_more["notices"] == [] and len(mailbox.messages) == 4
    monkeypatch.setenv("CSP_AUDIT_OUTBOX_URL", outbox.as_uri())

    # without the SMTP connection the packs still go out; the notices are recorded as not sent, once
    unsent = pub.build_and_release(summary["snapshot"], str(tmp_path / "publish-no-smtp"),
                                   str(demo_run / "plan.yaml"), "weekly-1", [third])  # fmt: skip
    releases = [PackRelease.from_dict(r) for r in unsent]
    notices = notify_releases(releases, contacts={}, fallback=["x@csp.example"], smtp_conn_id="no_such_smtp")
    assert [n.sent for n in notices] == [False] and "no SMTP connection" in notices[0].reason
    assert (
        notify_releases(releases, contacts={}, fallback=["x@csp.example"], smtp_conn_id="no_such_smtp") == []
    )
    assert len(mailbox.messages) == 4
