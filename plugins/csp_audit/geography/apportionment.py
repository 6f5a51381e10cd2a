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
    are the lookup's new vintage, equally otherwise) and like_for_like False for irregular (X) changes. An
    entry whose vintage is the lookup's NEW side (``vintage: 2021`` with the LSOA11 -> LSOA21 file, for a
    region on 2011 LSOAs) restates the newer codes back onto the region's (``reverse``).
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
        change = lookups.read_lsoa_change(a.lookup)
        old, new = change.attrs["old_vintage"], change.attrs["new_vintage"]
        entry = f"{a.vintage % 100:02d}"
        where = f"{a.lookup}: geography.apportionment {a.key}"
        if change.attrs["level"] != "lsoa":
            raise lookups.GeographyError(f"{where}: this is an {change.attrs['level'].upper()} change lookup")
        # codes of an older vintage are restated forwards (LSOA01 -> LSOA11 file), codes of a newer one
        # backwards (a region on LSOA11 receiving LSOA21 codes, with the LSOA11 -> LSOA21 file)
        reverse = new == entry and old != entry
        if entry not in (old, new):
            raise lookups.GeographyError(
                f"{where}: the lookup is between LSOA{old} and LSOA{new} codes, not of {a.vintage}"
            )
        onto = old if reverse else new
        if region_vintage and onto != region_vintage:
            raise lookups.GeographyError(
                f"{where}: the lookup restates LSOA{entry} codes onto LSOA{onto} codes but the region's LSOA "
                f"lookup {region.lsoa_lookup.name} is LSOA{region_vintage}; use a lookup between LSOA{entry} "
                f"and LSOA{region_vintage}"
            )
        # the region's population weights a split only when its LSOAs are the codes restated onto
        fits = weighted is not None and onto == region_vintage
        change = lookups.read_lsoa_change(a.lookup, population=weighted if fits else None, reverse=reverse)
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
