"""A task that fails for good alerts the engineers: a line in the Airflow home's alerts log and a
message through Airflow's SmtpNotifier to a real SMTP server on loopback (the one of
``test_publish_smtp.py``); every task carries an execution timeout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, cli_env
from csp_audit_demo.region import generate_demo_region
from test_publish_smtp import Mailbox, smtp_server  # noqa: F401  (the SMTP server fixture)

pytestmark = pytest.mark.integration


def test_a_failed_task_alerts_by_mail_and_in_the_alerts_log(
    tmp_path: Path,
    smtp_server: tuple[int, Mailbox],  # noqa: F811
) -> None:
    port, mailbox = smtp_server
    region = tmp_path / "region"
    generate_demo_region(region, months=2, scale=0.2)
    # a lookup without the partnership column: the police.uk gate fails reading it (exit 1)
    (region / "lookups" / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv").write_text(
        "FID,LAD19CD,LAD19NM,PFA19CD,PFA19NM\n1,E06990001,X,E23990001,Y\n"
    )
    env = cli_env() | {
        "CSP_AUDIT_ALERT_EMAIL": "oncall@csp.example, data-team@csp.example",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "audit@csp.example"},
            }
        ),
    }
    proc = subprocess.run(
        [str(BIN / "csp-audit"), "run", "--region", str(region / "region.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(mailbox.messages) == 1, [m.message["Subject"] for m in mailbox.messages]
    sent = mailbox.messages[0]
    assert sorted(sent.recipients) == ["data-team@csp.example", "oncall@csp.example"]
    assert sent.message["Subject"] == "csp-audit: csp_audit_ingest__police_uk_street.validate failed"
    assert "GeographyError" in sent.html()
    (alerts,) = list(tmp_path.rglob("csp-audit-alerts.log"))
    (line,) = alerts.read_text().splitlines()
    assert "csp_audit_ingest__police_uk_street.validate" in line and "GeographyError" in line
