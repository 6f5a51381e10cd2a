"""The region's geography as the warehouse holds it: every LSOA placed in its partnership.

The audit build and the police.uk gate (which asks which force area an LSOA lies in) read the
region's ONS lookups through these functions, so both place LSOAs the same way.
"""

from __future__ import annotations

import pandas as pd

from csp_audit.config import Region
from csp_audit.geography import lookups


def _read(region: Region) -> tuple[lookups.Lookup, lookups.Lookup, list[str], pd.DataFrame]:
    lsoas = lookups.read_lsoa_lookup(region.lsoa_lookup)
    partnerships = lookups.read_partnership_lookup(region.partnership_lookup)
    csps = lookups.select_partnerships(
        partnerships,
        police_force_areas=list(region.police_force_areas) or None,
        codes=list(region.partnership_codes) or None,
    )
    finer = None
    if region.finer:
        finer = (
            lookups.read_lsoa_lookup(region.finer.lsoa_lookup),
            lookups.read_partnership_lookup(region.finer.partnership_lookup),
        )
    placed = lookups.resolve_lsoa_partnerships(lsoas, partnerships, csps, finer=finer)
    return lsoas, partnerships, csps, placed


def check_region_codes(region: Region) -> None:
    """Refuse, before anything runs, a region whose force or partnership codes its lookup lacks.

    Raises :class:`~csp_audit.config.RegionConfigError` naming the YAML key (an unknown code is a
    mistake in the region, exit 2); a lookup that cannot be read is left for the build to report.
    """
    from csp_audit.config import RegionConfigError

    try:
        lookups.select_partnerships(
            lookups.read_partnership_lookup(region.partnership_lookup),
            police_force_areas=list(region.police_force_areas) or None,
            codes=list(region.partnership_codes) or None,
        )
    except lookups.UnknownCodes as exc:
        raise RegionConfigError(f"{region.source}: key '{exc.key}': {exc}") from exc
    except lookups.GeographyError:
        return


def place_region_lsoas(region: Region) -> pd.DataFrame:
    """Every LSOA of the region's lookup with its ward, LAD, partnership, force area and ``in_region``."""
    return _read(region)[3]


def region_tables(region: Region) -> dict[str, pd.DataFrame]:
    """The raw geography tables: ``geo_lsoas``, ``geo_populations``, ``region_partnerships``, ``geo_vintages``
    and the comparator tables (:mod:`csp_audit.geography.comparators`)."""
    lsoas, partnerships, csps, placed = _read(region)
    population = (
        lookups.read_population(region.population)
        if region.population
        else pd.DataFrame(
            {
                "lsoa_code": pd.Series(dtype="str"),
                "population": pd.Series(dtype="int64"),
                "year": pd.Series(dtype="Int64"),
                "households": pd.Series(dtype="Int64"),
                "aged_10_17": pd.Series(dtype="Int64"),
            }
        )
    )
    frame = partnerships.frame
    members = (
        frame[frame["csp_code"].isin(csps)][["csp_code", "csp_name", "pfa_code", "pfa_name"]]
        .drop_duplicates("csp_code")
        .sort_values("csp_code")
        .reset_index(drop=True)
    )
    vintages = pd.DataFrame(
        [
            {"lookup": role, "level": level, "vintage": vintage, "source": lookup.source.name}
            for role, lookup in (("lsoa_lookup", lsoas), ("partnership_lookup", partnerships))
            for level, vintage in sorted(lookup.vintages.items())
        ]
    )
    from csp_audit.geography.comparators import comparator_tables

    return {
        "geo_lsoas": placed,
        "geo_populations": population,
        "region_partnerships": members,
        "geo_vintages": vintages,
    } | comparator_tables(region.comparators)
