"""Deliver new releases to each partnership's outbox and tell its contacts (Airflow notifier).

Outbox: ``$CSP_AUDIT_OUTBOX_URL`` (``file:///...`` by default ``<publish root>/outbox``; also
``sftp://host/path`` or ``s3://bucket/prefix`` with ``$CSP_AUDIT_OUTBOX_CONN_ID``, read the same
way as the landing zone through ``airflow.sdk.ObjectStoragePath``). Each release is copied to
``<outbox>/<partnership_code>/<version>/`` file by file, every file is checked against the release's
``manifest.json`` after writing, and a ``DELIVERED`` marker is written last, so a recipient (or a
re-run) can tell a complete delivery from an interrupted one. A version already delivered is not
copied again. ``<outbox>/<partnership_code>/latest`` names the newest delivered version.

Contacts: a CSV ``contacts.csv`` beside the plan (or the region YAML), or ``$CSP_AUDIT_CONTACTS``,
with columns ``partnership_code,email`` (optional ``name``), one row per recipient; ``*`` as the
partnership code sends every partnership's notice to that address. The plan's schema allows no
extra keys, so contacts live beside it rather than in it; they are personal data the plan, which is
shared with every agency, does not need. A partnership with no contact is notified to the plan's
coordinator, or not at all (recorded in the result). Without the SMTP connection the packs are still
delivered and every notice is recorded as not sent, with a warning in the log.

Notification: ``airflow.providers.smtp.notifications.smtp.SmtpNotifier`` through the connection
``$CSP_AUDIT_SMTP_CONN_ID`` (default ``smtp_default``), one message per partnership with a release not
yet announced: what is new (version, restated figures, new rows), what is stale, where the pack is.
"Not yet announced" is the release's ``.unannounced-<version>`` marker beside it, written with the
release and removed once that partnership's message is sent, so every release is announced once,
through kills and task retries alike.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath

from csp_audit.faults import fault_point
from csp_audit.packs.build import PackRelease

log = logging.getLogger(__name__)

OUTBOX_ENV = "CSP_AUDIT_OUTBOX_URL"
OUTBOX_CONN_ENV = "CSP_AUDIT_OUTBOX_CONN_ID"
SMTP_CONN_ENV = "CSP_AUDIT_SMTP_CONN_ID"
CONTACTS_ENV = "CSP_AUDIT_CONTACTS"
FROM_ENV = "CSP_AUDIT_MAIL_FROM"
DEFAULT_SMTP_CONN = "smtp_default"
DELIVERED = "DELIVERED"
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`|~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_CHUNK = 1 << 20


class DeliveryError(RuntimeError):
    """A release could not be delivered intact."""


# ------------------------------------------------------------------------------------------ outbox


def outbox_root(
    out_root: str | Path, url: str | None = None, conn_id: str | None = None
) -> ObjectStoragePath:
    """The outbox as an ObjectStoragePath (the landing zone's rules: no credentials in the URL)."""
    from csp_audit.sources.landing import landing_root

    url = url or os.environ.get(OUTBOX_ENV) or (Path(out_root).resolve() / "outbox").as_uri()
    conn_id = conn_id or os.environ.get(OUTBOX_CONN_ENV) or None
    root = landing_root(url, conn_id)
    if (root.protocol or "file") == "file":
        Path(root.path).mkdir(parents=True, exist_ok=True)
    return root


def _sha256_remote(path: ObjectStoragePath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Delivery:
    partnership_code: str
    version: str
    url: str
    files: int
    already: bool


def deliver_release(release: PackRelease, root: ObjectStoragePath) -> Delivery:
    """Copy one release folder into ``root/<code>/<version>/`` and verify every file."""
    from csp_audit.sources.landing import url_of

    source = Path(release.path)
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    expected = dict(manifest["files"])
    target = root / release.partnership_code / release.version
    marker = target / DELIVERED
    if marker.exists():  # delivered before (perhaps by a run killed before it could name it latest)
        _point_latest(root / release.partnership_code, release.version)
        return Delivery(release.partnership_code, release.version, url_of(target), len(expected) + 1, True)
    local = (root.protocol or "file") == "file"
    files = sorted([*expected, "manifest.json"])
    for relative in files:
        dest = target / relative
        if local:
            Path(dest.path).parent.mkdir(parents=True, exist_ok=True)
        with open(source / relative, "rb") as src, dest.open("wb") as out:
            for chunk in iter(lambda src=src: src.read(_CHUNK), b""):
                out.write(chunk)
        if relative in expected and _sha256_remote(dest) != expected[relative]:
            raise DeliveryError(f"{url_of(dest)}: the copy does not match the release's sha256")
    manifest_sha = hashlib.sha256((source / "manifest.json").read_bytes()).hexdigest()
    with marker.open("w") as out:
        out.write(f"{release.version}\nmanifest.json sha256 {manifest_sha}\n")
    _point_latest(root / release.partnership_code, release.version)
    fault_point("deliver:partnership")
    return Delivery(release.partnership_code, release.version, url_of(target), len(files), False)


def _point_latest(partnership: ObjectStoragePath, version: str) -> None:
    """``latest`` names ``version`` unless it already names a newer one."""
    from csp_audit.packs.release import VERSION_RE

    pointer = partnership / "latest"
    if pointer.exists():
        with pointer.open("r") as handle:
            named = handle.read().strip()
        if named == version or (VERSION_RE.match(named) and int(named[1:]) > int(version[1:])):
            return
    with pointer.open("w") as out:
        out.write(version + "\n")


def deliver_releases(
    releases: Sequence[PackRelease],
    out_root: str | Path,
    *,
    url: str | None = None,
    conn_id: str | None = None,
) -> list[Delivery]:
    """Deliver every release not in the outbox yet: the new ones, and an unchanged one whose delivery
    an earlier publish did not finish (killed between building and delivering). A version already
    delivered is only checked for its marker."""
    root = outbox_root(out_root, url, conn_id)
    return [deliver_release(r, root) for r in releases]


def unannounced_marker(release: PackRelease) -> Path:
    """Written with the release itself (before its folder becomes visible, :func:`release.write_version`)
    and removed once its notice is sent (or recorded as unsendable): the one record of what is still to be
    announced, so a publish killed before or while notifying announces the rest on the next run, and a
    retried notify task sends nothing twice."""
    from csp_audit.packs.release import unannounced_marker as marker_of

    return marker_of(Path(release.path).parent, release.version)


def _announced(release: PackRelease) -> None:
    """Remove the release's marker, and those of older versions it supersedes (never delivered or told)."""
    from csp_audit.packs.release import unannounced_marker as marker_of
    from csp_audit.packs.release import unannounced_versions

    folder = Path(release.path).parent
    for version in unannounced_versions(folder):
        if int(version[1:]) <= int(release.version[1:]):
            marker_of(folder, version).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ contacts


def contacts_file_for(
    plan_file: str | Path | None = None, region_file: str | Path | None = None
) -> Path | None:
    explicit = os.environ.get(CONTACTS_ENV)
    if explicit:
        return Path(explicit)
    for anchor in (plan_file, region_file):
        if anchor:
            candidate = Path(anchor).resolve().parent / "contacts.csv"
            if candidate.is_file():
                return candidate
    return None


def read_contacts(path: str | Path | None) -> dict[str, list[str]]:
    """``partnership_code -> [emails]`` from a contacts CSV; invalid addresses are refused with the line."""
    if path is None or not Path(path).is_file():
        return {}
    out: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"partnership_code", "email"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path}: needs columns partnership_code and email (missing {', '.join(sorted(missing))})"
            )
        for line, row in enumerate(reader, start=2):
            code = (row.get("partnership_code") or "").strip()
            email = (row.get("email") or "").strip()
            if not code and not email:
                continue
            if not _EMAIL.match(email):
                raise ValueError(f"{path}, line {line}: {email!r} is not an email address")
            out.setdefault(code, [])
            if email not in out[code]:
                out[code].append(email)
    return out


def recipients(code: str, contacts: dict[str, list[str]], fallback: Iterable[str] = ()) -> list[str]:
    found = list(dict.fromkeys([*contacts.get(code, []), *contacts.get("*", [])]))
    return found or [f for f in fallback if _EMAIL.match(f)]


# ------------------------------------------------------------------------------------------ notify


def _safe(text: str) -> str:
    """HTML-escaped, with braces as entities: the notifier renders its fields as Jinja templates."""
    return escape(text).replace("{", "&#123;").replace("}", "&#125;")


def _plain(text: str) -> str:
    return text.replace("{", "(").replace("}", ")").replace("\r", " ").replace("\n", " ")


def message(release: PackRelease, delivery: Delivery | None) -> tuple[str, str]:
    """Subject and HTML body for one partnership's new release."""
    subject = _plain(
        f"[csp-audit] {release.partnership_name}: audit pack {release.version} ({release.refresh_label})"
    )
    lines = [
        "<p>A new crime and disorder audit pack is ready for "
        f"<strong>{_safe(release.partnership_name)} ({_safe(release.partnership_code)})</strong>.</p>",
        "<h3>What is new</h3><ul>",
        f"<li>Release {_safe(release.version)}, refresh {_safe(release.refresh_label)}.</li>",
    ]
    if release.previous_version:
        lines.append(
            f"<li>{release.restatements} published figure{'s' if release.restatements != 1 else ''} restated "
            f"since {_safe(release.previous_version)} (listed in restatements.csv).</li>"
        )
        for table, n in sorted(release.new_rows.items()):
            lines.append(f"<li>{n} new row{'s' if n != 1 else ''} in {_safe(table)}.</li>")
    else:
        lines.append("<li>This is the first release of the pack.</li>")
    lines.append("</ul><h3>What is stale</h3>")
    if release.stale:
        lines.append("<ul>" + "".join(f"<li>{_safe(s)}</li>" for s in release.stale) + "</ul>")
        lines.append(
            "<p>The last good figures of stale inputs are shown, marked in the report's caveats.</p>"
        )
    else:
        lines.append("<p>Every input is current.</p>")
    where = delivery.url if delivery else str(release.path)
    printed = (Path(release.path) / "report.pdf").is_file()  # a deployment may publish without PDFs
    lines.append(
        f"<h3>Where</h3><p>{_safe(where)}: report.html{' (and report.pdf to print)' if printed else ''}, "
        "tables.xlsx, csv/, parquet/, restatements.csv, "
        f"assessment.html{' and assessment.pdf' if printed else ''} (the draft strategic assessment; add the "
        "partnership's commentary in commentary/ beside the releases and it is merged at the next refresh) and "
        "manifest.json (checksums of every file).</p>"
        "<p>Figures marked [c] are withheld to protect confidentiality under each dataset's sharing terms.</p>"
    )
    return subject, "\n".join(lines)


@dataclass(frozen=True)
class Notice:
    partnership_code: str
    version: str
    to: tuple[str, ...]
    subject: str
    sent: bool
    reason: str = ""


def smtp_configured(conn_id: str) -> bool:
    """Whether the SMTP connection exists. Without one (a demo, a region that does not mail) the packs are
    still delivered and the notices recorded as not sent; a connection that exists but fails raises."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def notify_releases(
    releases: Sequence[PackRelease],
    *,
    contacts: dict[str, list[str]],
    deliveries: Sequence[Delivery] = (),
    fallback: Iterable[str] = (),
    smtp_conn_id: str | None = None,
    from_email: str | None = None,
    context: dict[str, Any] | None = None,
) -> list[Notice]:
    """One SmtpNotifier message per partnership whose release still has its unannounced marker: a new
    release, or one an earlier, interrupted publish released but never announced. The marker, not
    ``release.is_new``, decides: it is removed as soon as that partnership's message is sent, so a notify
    task retried in the same run (whose releases still say "new") or a publish killed mid-way sends only
    what was not sent yet. (A kill in the instant between the server's acceptance of a message and the
    marker's removal would send that one message again: a notice is sent at least once, never lost.)"""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    conn_id = smtp_conn_id or os.environ.get(SMTP_CONN_ENV) or DEFAULT_SMTP_CONN
    sender = from_email or os.environ.get(FROM_ENV) or None
    by_code = {d.partnership_code: d for d in deliveries}
    fallback = list(fallback)
    configured = smtp_configured(conn_id)
    notices = []
    for release in releases:
        if not unannounced_marker(release).exists():
            continue
        to = recipients(release.partnership_code, contacts, fallback)
        subject, body = message(release, by_code.get(release.partnership_code))
        reason = "no contact" if not to else "" if configured else f"no SMTP connection {conn_id!r}"
        if reason:
            notices.append(
                Notice(release.partnership_code, release.version, tuple(to), subject, False, reason)
            )
            log.warning("%s: release %s not notified (%s)", release.partnership_code, release.version, reason)
            _announced(release)
            continue
        notifier = SmtpNotifier(
            to=to, from_email=sender, subject=subject, html_content=body, smtp_conn_id=conn_id
        )
        notifier(dict(context or {}))
        _announced(release)
        notices.append(Notice(release.partnership_code, release.version, tuple(to), subject, True))
        fault_point("notify:partnership")
    return notices
