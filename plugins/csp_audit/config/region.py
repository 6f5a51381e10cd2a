"""Region configuration: one YAML file describes a region, its lookups and its sources.

The keys are a public contract (documented in the README). Relative paths resolve against the
folder of the YAML file so a region folder can be moved or shared as a whole.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from csp_audit.config.safe_yaml import safe_yaml

ONS_CODE = re.compile(r"^[A-Z]\d{8}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_TOP_KEYS = {
    "name",
    "audit_year_start_month",
    "geography",
    "partnerships",
    "sources",
    "data_roots",
    "comparators",
    "counties",
}
_COUNTY_KEYS = {"code", "name", "partnerships"}
_COMPARATOR_KEYS = {"partnership_rates", "characteristics", "groups", "group_size"}
# Folders, besides the region file's own, that its paths may point into (os.pathsep-separated)
DATA_ROOTS_ENV = "CSP_AUDIT_DATA_ROOTS"
_GEOGRAPHY_KEYS = {
    "lsoa_lookup",
    "partnership_lookup",
    "population",
    "finer",
    "apportionment",
    "bounding_box",
    "lsoa_boundaries",
}
# England and Wales with a margin: min longitude, min latitude, max longitude, max latitude
ENGLAND_AND_WALES_BOX = (-6.5, 49.8, 2.0, 56.0)
_APPORTIONMENT_KEYS = {"area_type", "vintage", "lookup", "weight"}
AREA_TYPES = (
    "ward",
    "postcode_district",
    "local_authority",
    "health_area",
    "fire_station_ground",
    "police_neighbourhood",
)
# Census geography change: counts delivered on an older LSOA vintage, restated on the region's LSOAs with an
# ONS best-fit change lookup (LSOA01CD/LSOA11CD/CHGIND ...); weight 'population' or 'equal' for splits.
CHANGE_AREA_TYPES = ("lsoa",)
CHANGE_WEIGHTS = ("population", "equal")
_FINER_KEYS = {"lsoa_lookup", "partnership_lookup"}
_BOUNDARY_KEYS = {"file", "code_property", "attribution"}
# A GeoJSON property name: letters, digits and '_' (ONS: LSOA21CD, LSOA11CD, lsoa11cd)
PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PARTNERSHIP_KEYS = {"police_force_areas", "codes"}
_SOURCE_KEYS = {"police_uk"}


class RegionConfigError(ValueError):
    """The region YAML cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class FinerLookups:
    """An older LSOA -> LAD and LAD -> CSP pair used to place LSOAs of LADs split between CSPs."""

    lsoa_lookup: Path
    partnership_lookup: Path


@dataclass(frozen=True)
class Comparators:
    """Figures beyond the region to compare its partnerships with (all optional files, CSV):

    - ``partnership_rates``: published recorded-crime figures for every partnership of England and
      Wales (``partnership_code, partnership_name, dataset, category, period_start, incidents,
      population``), from which the national rate and a most similar group's rate are made;
    - ``characteristics``: standardisable figures per partnership (``partnership_code`` and one
      numeric column per characteristic, e.g. deprivation and density) to find each partnership's
      ``group_size`` nearest neighbours when no published group is given;
    - ``groups``: published most similar groups (``partnership_code, member_code``), used as given.
    """

    partnership_rates: Path | None = None
    characteristics: Path | None = None
    groups: Path | None = None
    group_size: int = 7


@dataclass(frozen=True)
class LsoaBoundaries:
    """An ONS LSOA boundary file (GeoJSON) for the packs' map; presentation only, never a data path.

    ``code_property`` names the feature property holding the LSOA code; ``None`` means the one of the
    LSOA lookup's vintage (``LSOA11CD`` for an ``LSOA11CD`` lookup), decided when the file is read.
    ``attribution`` is printed under the map: the Open Government Licence that ONS boundary files come
    under asks users to acknowledge the source.
    """

    file: Path
    code_property: str | None = None
    attribution: str | None = None


@dataclass(frozen=True)
class Apportionment:
    """Weights that spread counts delivered on areas that do not nest in LSOAs over LSOAs."""

    area_type: str
    vintage: int | None
    lookup: Path
    weight: str

    @property
    def census_change(self) -> bool:
        """True for an ONS census change lookup (old LSOA -> new LSOA with CHGIND), not an area -> LSOA one."""
        return self.area_type in CHANGE_AREA_TYPES

    @property
    def key(self) -> str:
        """``ward_2015``, ``postcode_district``: how datasets name the geography they arrive on."""
        return f"{self.area_type}_{self.vintage}" if self.vintage else self.area_type


@dataclass(frozen=True)
class County:
    """A two-tier county whose district partnerships agree a county community safety agreement: its
    publish writes one roll-up across them (:mod:`csp_audit.packs.county`)."""

    code: str
    name: str
    partnerships: tuple[str, ...]


@dataclass(frozen=True)
class Region:
    """A validated region: every path absolute, every code checked for format."""

    name: str
    source: Path
    audit_year_start_month: int
    lsoa_lookup: Path
    partnership_lookup: Path
    population: Path | None
    police_force_areas: tuple[str, ...] = field(default_factory=tuple)
    partnership_codes: tuple[str, ...] = field(default_factory=tuple)
    police_uk: Path | None = None
    finer: FinerLookups | None = None
    apportionment: tuple[Apportionment, ...] = ()
    bounding_box: tuple[float, float, float, float] = ENGLAND_AND_WALES_BOX
    lsoa_boundaries: LsoaBoundaries | None = None
    comparators: Comparators = field(default_factory=Comparators)
    counties: tuple[County, ...] = ()


def _fail(path: Path, key: str, message: str) -> RegionConfigError:
    return RegionConfigError(f"{path}: key '{key}': {message}")


def _mapping(path: Path, key: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, key, f"must be a mapping with keys {sorted(allowed)}, got {type(value).__name__}")
    # key=str (fuzzing fix): YAML keys such as 1 and 'a' cannot be compared, so sorting them raised TypeError
    unknown = sorted(set(value) - allowed, key=str)
    if unknown:
        where = unknown[0] if key == "<top level>" else f"{key}.{unknown[0]}"
        raise _fail(path, where, f"unknown key (allowed: {sorted(allowed)})")
    return value


def _lexical(base: Path, value: str) -> Path:
    """``value`` made absolute against ``base`` with ``..`` folded, links not followed."""
    return Path(os.path.normpath(base / os.path.expanduser(value)))


def _data_roots(base: Path, path: Path, value: Any) -> tuple[Path, ...]:
    """The folders the region's paths may point into: its own folder, ``data_roots`` and the environment.

    A region YAML is data someone wrote, not code: without this a lookup could name ``/etc/shadow``
    and the run would read it. Links inside an allowed folder are the operator's own choice.
    """
    roots = [base]
    if value is not None:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _fail(
                path, "data_roots", "must be a list of folders (relative to the region file or absolute)"
            )
        roots += [_lexical(base, v) for v in value]
    roots += [_lexical(base, v) for v in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if v.strip()]
    return tuple(roots)


def _path(
    base: Path, path: Path, key: str, value: Any, *, must_exist: bool = True, roots: tuple[Path, ...] = ()
) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, "must be a non-empty path string")
    try:
        lexical = _lexical(base, value)
        resolved = (base / value).resolve()
        exists = resolved.exists()
    # Fuzzing fix: a NUL byte (ValueError) or an over-long name (OSError) escaped from resolve/exists.
    except (OSError, ValueError) as exc:
        raise _fail(path, key, f"{value[:80]!r} cannot be used as a path: {exc.__class__.__name__}") from exc
    allowed = roots or (base,)
    if not any(lexical == root or lexical.is_relative_to(root) for root in allowed):
        raise _fail(
            path, key,
            f"{value[:200]!r} is outside the folders this region may read ({', '.join(map(str, allowed))}); "
            f"list its folder under 'data_roots' (or in ${DATA_ROOTS_ENV}) if it is meant to be read",
        )  # fmt: skip
    if must_exist and not exists:
        raise _fail(path, key, f"{value!r} does not exist (resolved to {resolved})")
    return resolved


def _codes(path: Path, key: str, value: Any, prefixes: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, key, "must be a non-empty list of ONS codes")
    codes = []
    for item in value:
        code = str(item).strip()
        if not ONS_CODE.match(code) or not code.startswith(prefixes):
            wanted = " or ".join(f"{p}######" for p in prefixes)
            raise _fail(path, key, f"{item!r} is not an ONS code of the form {wanted}")
        codes.append(code)
    if len(set(codes)) != len(codes):
        raise _fail(path, key, "lists a code more than once")
    return tuple(codes)


def load_region(path: str | Path) -> Region:
    """Read and validate a region YAML; raise RegionConfigError naming the key on any problem."""
    path = Path(path).resolve()
    if not path.is_file():
        raise RegionConfigError(f"{path}: region file not found")
    try:
        raw = safe_yaml(path.read_text(encoding="utf-8"))
    # Fuzzing fix: besides YAMLError, a file that is not UTF-8 raised UnicodeDecodeError, an impossible
    # date such as 2021-13-45 made PyYAML raise ValueError, and deep nesting RecursionError.
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise RegionConfigError(f"{path}: not valid YAML: {exc}") from exc
    doc = _mapping(path, "<top level>", raw, _TOP_KEYS)
    base = path.parent
    roots = _data_roots(base, path, doc.get("data_roots"))

    for required in ("name", "geography", "partnerships", "sources"):
        if required not in doc:
            raise _fail(path, required, "is required")
    name = str(doc["name"])
    if not NAME.match(name):
        raise _fail(path, "name", "must be 1-64 letters, digits, '.', '_' or '-' (it names files)")

    start = doc.get("audit_year_start_month", 4)
    if not isinstance(start, int) or isinstance(start, bool) or not 1 <= start <= 12:
        raise _fail(path, "audit_year_start_month", f"must be a month number 1-12, got {start!r}")

    geo = _mapping(path, "geography", doc["geography"], _GEOGRAPHY_KEYS)
    for required in ("lsoa_lookup", "partnership_lookup"):
        if required not in geo:
            raise _fail(path, f"geography.{required}", "is required")
    finer = None
    if geo.get("finer") is not None:
        fin = _mapping(path, "geography.finer", geo["finer"], _FINER_KEYS)
        for required in _FINER_KEYS:
            if required not in fin:
                raise _fail(path, f"geography.finer.{required}", "is required")
        finer = FinerLookups(
            lsoa_lookup=_path(base, path, "geography.finer.lsoa_lookup", fin["lsoa_lookup"], roots=roots),
            partnership_lookup=_path(
                base, path, "geography.finer.partnership_lookup", fin["partnership_lookup"], roots=roots
            ),
        )

    apportionment = _apportionment(base, path, geo.get("apportionment"), roots)
    boundaries = _boundaries(base, path, geo.get("lsoa_boundaries"), roots)
    box = geo.get("bounding_box", list(ENGLAND_AND_WALES_BOX))
    if (
        not isinstance(box, list)
        or len(box) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
        or not (box[0] < box[2] and box[1] < box[3])
    ):
        raise _fail(
            path,
            "geography.bounding_box",
            "must be [min_longitude, min_latitude, max_longitude, max_latitude]",
        )

    parts = _mapping(path, "partnerships", doc["partnerships"], _PARTNERSHIP_KEYS)
    if ("police_force_areas" in parts) == ("codes" in parts):
        raise _fail(path, "partnerships", "give exactly one of 'police_force_areas' or 'codes'")
    # English PFAs are E23, Welsh W15; English CSPs E22, Welsh W14.
    pfas = (
        _codes(path, "partnerships.police_force_areas", parts["police_force_areas"], ("E23", "W15"))
        if "police_force_areas" in parts
        else ()
    )
    csps = _codes(path, "partnerships.codes", parts["codes"], ("E22", "W14")) if "codes" in parts else ()

    sources = _mapping(path, "sources", doc["sources"], _SOURCE_KEYS)
    if not sources:
        raise _fail(path, "sources", "lists no source; add at least 'police_uk'")
    police = (
        _path(base, path, "sources.police_uk", sources["police_uk"], roots=roots)
        if "police_uk" in sources
        else None
    )
    if police is not None and not police.is_dir():
        raise _fail(path, "sources.police_uk", f"{police} is not a folder")

    return Region(
        name=name,
        source=path,
        audit_year_start_month=start,
        lsoa_lookup=_path(base, path, "geography.lsoa_lookup", geo["lsoa_lookup"], roots=roots),
        partnership_lookup=_path(
            base, path, "geography.partnership_lookup", geo["partnership_lookup"], roots=roots
        ),
        population=_path(base, path, "geography.population", geo["population"], roots=roots)
        if geo.get("population") is not None
        else None,
        police_force_areas=pfas,
        partnership_codes=csps,
        police_uk=police,
        finer=finer,
        apportionment=apportionment,
        bounding_box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        lsoa_boundaries=boundaries,
        comparators=_comparators(base, path, doc.get("comparators"), roots),
        counties=_counties(path, doc.get("counties")),
    )


def _counties(path: Path, value: Any) -> tuple[County, ...]:
    """``counties``: a list of ``{code, name, partnerships}`` (a two-tier county, E10; its district partnerships, E22);
    that the partnerships are the region's is checked when the roll-up is built."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _fail(path, "counties", "must be a non-empty list of {code, name, partnerships}")
    counties = []
    for i, item in enumerate(value):
        entry = _mapping(path, f"counties[{i}]", item, _COUNTY_KEYS)
        missing = sorted(_COUNTY_KEYS - set(entry))
        if missing:
            raise _fail(path, f"counties[{i}]", f"missing {', '.join(missing)}")
        (code,) = _codes(path, f"counties[{i}].code", [entry["code"]], ("E10",))
        name = str(entry["name"]).strip()
        if not name:
            raise _fail(path, f"counties[{i}].name", "must not be empty")
        members = _codes(path, f"counties[{i}].partnerships", entry["partnerships"], ("E22", "W14"))
        counties.append(County(code, name, members))
    if len({c.code for c in counties}) != len(counties):
        raise _fail(path, "counties", "lists a county code more than once")
    return tuple(counties)


def _comparators(base: Path, path: Path, value: Any, roots: tuple[Path, ...]) -> Comparators:
    """``comparators``: the files must exist where the region may read; their content is checked when
    the geography step reads them (:mod:`csp_audit.geography.comparators`)."""
    if value is None:
        return Comparators()
    entry = _mapping(path, "comparators", value, _COMPARATOR_KEYS)
    files: dict[str, Path | None] = {}
    for key in ("partnership_rates", "characteristics", "groups"):
        files[key] = None
        if entry.get(key) is not None:
            files[key] = _path(base, path, f"comparators.{key}", entry[key], roots=roots)
            if not files[key].is_file():
                raise _fail(path, f"comparators.{key}", f"{files[key]} is not a file")
    size = entry.get("group_size", 7)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 50:
        raise _fail(
            path, "comparators.group_size", f"must be a whole number of partnerships 1-50, got {size!r}"
        )
    return Comparators(group_size=size, **files)


def _boundaries(base: Path, path: Path, value: Any, roots: tuple[Path, ...]) -> LsoaBoundaries | None:
    """``geography.lsoa_boundaries``: the file must exist and lie where the region may read (as the
    lookups); its content is read at publish time (:mod:`csp_audit.packs.boundaries`), not here, so a
    run that builds no pack never parses a national boundary file."""
    if value is None:
        return None
    key = "geography.lsoa_boundaries"
    entry = _mapping(path, key, value, _BOUNDARY_KEYS)
    if "file" not in entry:
        raise _fail(path, f"{key}.file", "is required: the path of an ONS LSOA boundary GeoJSON file")
    file = _path(base, path, f"{key}.file", entry["file"], roots=roots)
    if not file.is_file():
        raise _fail(path, f"{key}.file", f"{file} is not a file")
    prop = entry.get("code_property")
    if prop is not None and (not isinstance(prop, str) or not PROPERTY.match(prop)):
        raise _fail(
            path,
            f"{key}.code_property",
            f"must name the feature property holding the LSOA code (e.g. LSOA21CD), got {prop!r}",
        )
    attribution = entry.get("attribution")
    if attribution is not None and (not isinstance(attribution, str) or not attribution.strip()):
        raise _fail(
            path, f"{key}.attribution", "must be the text to print under the map (the source's credit line)"
        )
    return LsoaBoundaries(
        file=file, code_property=prop, attribution=attribution.strip()[:300] if attribution else None
    )


def _apportionment(base: Path, path: Path, value: Any, roots: tuple[Path, ...]) -> tuple[Apportionment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(path, "geography.apportionment", "must be a list of {area_type, vintage, lookup, weight}")
    out: list[Apportionment] = []
    for n, item in enumerate(value):
        key = f"geography.apportionment[{n}]"
        entry = _mapping(path, key, item, _APPORTIONMENT_KEYS)
        area_type = entry.get("area_type")
        if not isinstance(area_type, str) or area_type not in AREA_TYPES + CHANGE_AREA_TYPES:
            raise _fail(
                path,
                f"{key}.area_type",
                f"must be one of {', '.join(AREA_TYPES + CHANGE_AREA_TYPES)}, got {area_type!r}",
            )
        vintage = entry.get("vintage")
        if vintage is not None and (not isinstance(vintage, int) or not 1990 <= vintage <= 2100):
            raise _fail(path, f"{key}.vintage", f"must be a year, got {vintage!r}")
        weight = entry.get("weight", "population")
        if not isinstance(weight, str) or not weight.strip():
            raise _fail(path, f"{key}.weight", "must name the weight column (e.g. population, addresses)")
        if area_type in CHANGE_AREA_TYPES:
            if vintage is None:
                raise _fail(
                    path,
                    f"{key}.vintage",
                    "is required for lsoa: the census year of the codes to restate (older or newer than the "
                    "region's)",
                )
            if weight not in CHANGE_WEIGHTS:
                raise _fail(
                    path,
                    f"{key}.weight",
                    f"must be one of {', '.join(CHANGE_WEIGHTS)} for a census change lookup, got {weight!r}",
                )
        out.append(
            Apportionment(
                area_type,
                vintage,
                _path(base, path, f"{key}.lookup", entry.get("lookup"), roots=roots),
                weight,
            )
        )
    keys = [a.key for a in out]
    if len(set(keys)) != len(keys):
        raise _fail(path, "geography.apportionment", f"lists an area type and vintage twice: {keys}")
    return tuple(out)
