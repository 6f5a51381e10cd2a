"""The region's geography: ONS lookups read as published, LSOAs placed in partnerships, apportionment.

- :mod:`~csp_audit.geography.lookups`: the lookup readers (columns found by pattern, vintages kept) and
  the placing of every LSOA in its ward, LAD, partnership and force area;
- :mod:`~csp_audit.geography.region`: the raw geography tables of a region;
- :mod:`~csp_audit.geography.apportionment`: weights that spread counts on other areas over LSOAs;
- :mod:`~csp_audit.geography.areas`: which area codes of a dataset's geography the lookups know.
"""

from csp_audit.geography.lookups import (
    GeographyError,
    Lookup,
    read_apportionment,
    read_lsoa_change,
    read_lsoa_lookup,
    read_partnership_lookup,
    read_population,
    resolve_lsoa_partnerships,
    select_partnerships,
)
from csp_audit.geography.region import place_region_lsoas, region_tables

__all__ = [
    "GeographyError",
    "Lookup",
    "place_region_lsoas",
    "read_apportionment",
    "read_lsoa_change",
    "read_lsoa_lookup",
    "read_partnership_lookup",
    "read_population",
    "region_tables",
    "resolve_lsoa_partnerships",
    "select_partnerships",
]
