"""s3:// landing zones and outboxes against an S3-compatible server on loopback (moto's), reached through
Airflow's ObjectStoragePath with the Amazon provider and an ``aws`` connection from the environment."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from csp_audit.packs.build import PackRelease
from csp_audit.packs.deliver import DELIVERED, deliver_release, outbox_root
from csp_audit.sources.landing import SkippedEntry, fetch_to_local, landing_root, list_deliveries
from test_landing_sftp import ASB, STREET, _plan

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Airflow caches the filesystem it attaches per connection id, process-wide: a name of this module's own
CONN_ID = f"aws_landing_{uuid.uuid4().hex[:8]}"
BUCKET = "csp-landing"


@pytest.fixture(scope="module")
def s3() -> Iterator[object]:
    """moto's S3 on a free loopback port, a bucket, and the Airflow connection pointing at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="eu-west-2")  # fmt: skip
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    key = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    os.environ[key] = json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                                  "extra": {"endpoint_url": endpoint, "region_name": "eu-west-2"}})  # fmt: skip
    try:
        yield client
    finally:
        os.environ.pop(key, None)
        server.stop()


GOOD = {
    "police/northshire_police/2024-01/2024-01-northshire-street.csv": STREET,
    "northshire_council/asb/2024-02/asb export.csv": ASB,
    "southmoor_council/asb/2024-02/asb.csv": ASB + b"more,2024-02\n",
}


@pytest.fixture(scope="module")
def landed(s3: object) -> dict[str, bytes]:
    for relative, data in GOOD.items():
        s3.put_object(Bucket=BUCKET, Key=f"landing/{relative}", Body=data)  # type: ignore[attr-defined]
    for relative, data in {
        "northshire_council/asb/2024-02/.hidden.csv": b"hidden\n",
        "northshire_council/asb/2024-13/late.csv": b"no such month\n",
        "northshire_council/asb/x.csv": b"outside a period\n",
    }.items():
        s3.put_object(Bucket=BUCKET, Key=f"landing/{relative}", Body=data)  # type: ignore[attr-defined]
    return GOOD


def test_deliveries_listed_and_fetched_over_s3(landed: dict[str, bytes], tmp_path: Path) -> None:
    root = landing_root(f"s3://{BUCKET}/landing", conn_id=CONN_ID)
    assert root.protocol == "s3"
    skipped: list[SkippedEntry] = []
    found = list_deliveries(root, _plan(), skipped=skipped)
    assert [f.relative_path for f in found] == sorted(landed)
    for item in found:
        assert item.sha256 == hashlib.sha256(landed[item.relative_path]).hexdigest()
        assert item.size == len(landed[item.relative_path])
    reasons = {entry.relative_path: entry.reason for entry in skipped}
    assert reasons["northshire_council/asb/2024-02/.hidden.csv"] == "hidden file"
    assert reasons["northshire_council/asb/x.csv"] == "file outside a YYYY-MM period folder"
    assert reasons["northshire_council/asb/2024-13"] == "period folder is not named YYYY-MM"
    cache = tmp_path / "cache"
    for item in found:
        local = fetch_to_local(item, root, cache)
        assert local.read_bytes() == landed[item.relative_path]


def test_a_release_is_delivered_to_an_s3_outbox_once(s3: object, tmp_path: Path) -> None:
    release_dir = tmp_path / "E22990001" / "v0001"
    release_dir.mkdir(parents=True)
    files = {"report.html": b"<html>pack</html>", "csv/area_rates.csv": b"a,b\n1,2\n"}
    for relative, data in files.items():
        (release_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (release_dir / relative).write_bytes(data)
    manifest = {"files": {r: hashlib.sha256(d).hexdigest() for r, d in files.items()}}
    (release_dir / "manifest.json").write_text(json.dumps(manifest))
    release = PackRelease("E22990001", "First", "new", "v0001", None, release_dir, "test")
    root = outbox_root(tmp_path, f"s3://{BUCKET}/outbox", CONN_ID)
    first = deliver_release(release, root)
    assert not first.already and first.files == 3
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="outbox/")["Contents"]}  # type: ignore[attr-defined]
    assert keys == {f"outbox/E22990001/v0001/{r}" for r in [*files, "manifest.json", DELIVERED]} | {
        "outbox/E22990001/latest"
    }
    body = s3.get_object(Bucket=BUCKET, Key="outbox/E22990001/v0001/report.html")["Body"].read()  # type: ignore[attr-defined]
    assert body == files["report.html"]
    assert deliver_release(release, root).already  # a re-run finds the marker and copies nothing
