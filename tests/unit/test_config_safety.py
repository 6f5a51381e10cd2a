"""Region YAML that could read what it should not, or mean two things: refused, naming the key.

Each case failed before the reliability work (issue 19): a lookup at /etc/passwd was read and its
lines printed, a repeated key was silently resolved to its last value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from csp_audit.config import RegionConfigError, load_region
from csp_audit.config.safe_yaml import safe_yaml
from csp_audit.geography.lookups import GeographyError, read_partnership_lookup
from yaml import YAMLError

BODY = """name: r
geography:
  lsoa_lookup: {lsoa}
  partnership_lookup: lookups/lad.csv
partnerships:
  codes: [E22000001]
sources:
  police_uk: police/
"""


def _region(folder: Path, lsoa: str, extra: str = "") -> Path:
    (folder / "lookups").mkdir(parents=True, exist_ok=True)
    (folder / "police").mkdir(exist_ok=True)
    for name in ("lsoa.csv", "lad.csv"):
        (folder / "lookups" / name).write_text("x\n")
    path = folder / "region.yaml"
    path.write_text(BODY.format(lsoa=lsoa) + extra)
    return path


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside/lsoa.csv", "lookups/../../outside/lsoa.csv"])
def test_a_path_outside_the_region_folder_is_refused_naming_the_key(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "lsoa.csv").write_text("secret line\n")
    with pytest.raises(RegionConfigError) as caught:
        load_region(_region(tmp_path / "region", target))
    message = str(caught.value)
    assert "key 'geography.lsoa_lookup'" in message and "outside the folders" in message
    assert "secret" not in message and "root:" not in message


def test_data_roots_and_the_environment_allow_other_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "lsoa.csv").write_text("x\n")
    region = load_region(_region(tmp_path / "a", str(shared / "lsoa.csv"), f"data_roots: [{shared}]\n"))
    assert region.lsoa_lookup == (shared / "lsoa.csv").resolve()
    with pytest.raises(RegionConfigError):
        load_region(_region(tmp_path / "b", str(shared / "lsoa.csv")))
    monkeypatch.setenv("CSP_AUDIT_DATA_ROOTS", str(shared))
    assert (
        load_region(_region(tmp_path / "b", str(shared / "lsoa.csv"))).lsoa_lookup.parent == shared.resolve()
    )
    with pytest.raises(RegionConfigError, match="key 'data_roots'"):
        load_region(_region(tmp_path / "c", "lookups/lsoa.csv", "data_roots: /srv\n"))


def test_a_repeated_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = _region(tmp_path, "lookups/lsoa.csv", "sources:\n  police_uk: police/\n")
    with pytest.raises(RegionConfigError, match=r"duplicate key 'sources' on line 9 \(first on line 7\)"):
        load_region(path)
    with pytest.raises(YAMLError, match="duplicate key 'x'"):
        safe_yaml("a:\n  x: 1\n  y: 2\n  x: 3\n")
    # merge keys and the same key in different mappings are fine
    assert safe_yaml("b: &b {x: 1}\nc:\n  <<: *b\n  x: 2\nd: {x: 3}\n")["c"] == {"x": 2}


def test_a_file_that_is_not_a_lookup_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon,more:/usr/sbin:/usr/sbin/nologin\n")
    with pytest.raises(GeographyError) as caught:
        read_partnership_lookup(path)
    assert "root" not in str(caught.value).replace(str(tmp_path), "")
    assert "daemon" not in str(caught.value)
