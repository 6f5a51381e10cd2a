"""Weights that spread counts delivered on other areas (wards, postcode districts, older LSOAs) over LSOAs.

``raw.geo_apportionment`` holds every apportionment lookup of the region in one shape; dbt normalises the
weights and places each count (``int_apportionment_weights_normalised``).
"""

from __future__ import annotations

import pandas as pd

from csp_audit.config import Region
from csp_audit.geography import lookups

APPORTIONMENT_COLUMNS = ["area_code", "lsoa_code", "weight", "geography", "basis", "like_for_like"]


def apportionment_weights(region: Region) -> pd.DataFrame:
    """raw.geo_apportionment: every apportionment lookup's area -> LSOA weights, one frame.

    Area lookups (wards, postcode districts ...) come from read_apportionment and are like for like.  An
    ``area_type: lsoa`` entry is an ONS census change lookup (LSOA01 -> LSOA11 ...): read_lsoa_change gives
    the old code's share of each new LSOA (splits weighted by the region's population file when its LSOAs
    are the lookup's new vintage, equally otherwise) and like_for_like False for irregular (X) changes.
    """
    frames = []
    region_vintage: str | None = None
    population: pd.DataFrame | None = None
    for a in region.apportionment:
        if not a.census_change:
            frames.append(
                lookups.read_apportionment(a.lookup, a.area_type, a.weight).assign(
                    geography=a.key, basis=a.weight, like_for_like=True
                )
            )
            continue
        if region_vintage is None:
            region_vintage = lookups.read_lsoa_lookup(region.lsoa_lookup).vintages["lsoa"]
            if region.population is not None:
                population = lookups.latest_population(lookups.read_population(region.population))
        weighted = population if a.weight == "population" else None
        change = lookups.read_lsoa_change(a.lookup, population=weighted)
        old, new = change.attrs["old_vintage"], change.attrs["new_vintage"]
        where = f"{a.lookup}: geography.apportionment {a.key}"
        if change.attrs["level"] != "lsoa":
            raise lookups.GeographyError(f"{where}: this is an {change.attrs['level'].upper()} change lookup")
        if old != f"{a.vintage % 100:02d}":
            raise lookups.GeographyError(f"{where}: the lookup's old codes are LSOA{old}, not {a.vintage}")
        if region_vintage and new != region_vintage:
            raise lookups.GeographyError(
                f"{where}: the lookup restates onto LSOA{new} codes but the region's LSOA lookup "
                f"{region.lsoa_lookup.name} is LSOA{region_vintage}; use a lookup from LSOA{old} to "
                f"LSOA{region_vintage}"
            )
        if weighted is not None and new != region_vintage:  # LSOA vintage unknown: population may not fit
            change = lookups.read_lsoa_change(a.lookup)
        frames.append(
            change[["area_code", "lsoa_code", "weight", "basis", "like_for_like"]].assign(geography=a.key)
        )
    if not frames:
        return pd.DataFrame(
            {
                "area_code": pd.Series(dtype="str"),
                "lsoa_code": pd.Series(dtype="str"),
                "weight": pd.Series(dtype="float64"),
                "geography": pd.Series(dtype="str"),
                "basis": pd.Series(dtype="str"),
                "like_for_like": pd.Series(dtype="bool"),
            }
        )
    frame = pd.concat(frames, ignore_index=True)[APPORTIONMENT_COLUMNS]
    return frame.astype({"weight": "float64", "like_for_like": "bool"})
