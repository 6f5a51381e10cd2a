"""Configuration a partnership writes: the region YAML (its geography, partnerships and police.uk folder).

The data plan has its own package (:mod:`csp_audit.plan`); the settings of a run (which plan, which
warehouse) are resolved in :mod:`csp_audit.orchestration.settings`.
"""

from csp_audit.config.region import (
    AREA_TYPES,
    CHANGE_AREA_TYPES,
    CHANGE_WEIGHTS,
    ENGLAND_AND_WALES_BOX,
    Apportionment,
    County,
    FinerLookups,
    LsoaBoundaries,
    Region,
    RegionConfigError,
    load_region,
)
from csp_audit.config.safe_yaml import MAX_YAML_NODES, safe_yaml

__all__ = [
    "AREA_TYPES",
    "CHANGE_AREA_TYPES",
    "CHANGE_WEIGHTS",
    "ENGLAND_AND_WALES_BOX",
    "MAX_YAML_NODES",
    "Apportionment",
    "County",
    "FinerLookups",
    "LsoaBoundaries",
    "Region",
    "RegionConfigError",
    "load_region",
    "safe_yaml",
]
