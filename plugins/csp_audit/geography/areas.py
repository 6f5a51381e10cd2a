"""Which area codes of a dataset's geography and vintage the region's lookups know.

The gate holds back rows whose area code no lookup of the region knows (``area_code_in_lookup``): a code
of another vintage cannot be placed.
"""

from __future__ import annotations

from csp_audit.config import Region
from csp_audit.geography import lookups
from csp_audit.plan.model import Dataset


def known_area_codes(region: Region, dataset: Dataset) -> list[str] | None:
    """Codes of the dataset's geography and vintage that the region's lookups know, or None if none do."""
    geo = dataset.geography
    for item in region.apportionment:  # a census-change lookup restates another vintage onto the region's
        if item.area_type == "lsoa" and item.vintage == geo.vintage and geo.type == "lsoa":
            change = lookups.read_lsoa_change(item.lookup)
            older = change.attrs["old_vintage"] == f"{item.vintage % 100:02d}"
            return sorted(change["area_code" if older else "lsoa_code"].unique())
    if geo.type == "lsoa":
        lookup = lookups.read_lsoa_lookup(region.lsoa_lookup)
        if geo.vintage and lookup.vintages.get("lsoa") not in ("", f"{geo.vintage % 100:02d}"):
            return []  # the region's lookup is of another vintage: every code is of the wrong vintage
        return sorted(lookup.frame["lsoa_code"])
    for item in region.apportionment:
        if item.area_type == geo.type and (item.vintage is None or item.vintage == geo.vintage):
            return sorted(
                lookups.read_apportionment(item.lookup, item.area_type, item.weight)["area_code"].unique()
            )
    if geo.type in ("ward", "local_authority"):
        lookup = lookups.read_lsoa_lookup(region.lsoa_lookup)
        level = "ward" if geo.type == "ward" else "lad"
        if geo.vintage is None or lookup.vintages.get(level) == f"{geo.vintage % 100:02d}":
            return sorted(lookup.frame[f"{level}_code"].unique())
    return None
