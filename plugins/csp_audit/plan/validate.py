"""Check a parsed plan document and report every problem at once, each naming its key path.

Two layers: ``schema.json`` (JSON Schema 2020-12, checked with ``jsonschema``) covers shapes, types and
spellings; the Python rules below cover what a schema cannot say well (cross-references between agencies and
datasets, rules that depend on two keys). Both run on every load and their findings are merged, because a
data officer fixing a plan by hand should see the whole list in one go, not one error per attempt.

The rule wording comes from each schema node's ``x-expect`` (e.g. "an integer >= 1") so that messages read
``datasets.fire_incidents.sharing.min_cell_size: must be an integer >= 1, got 'ten'`` instead of the
validator's internal phrasing.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from csp_audit.plan.periods import CADENCE_MONTHS

Problem = tuple[str, str]  # (key path, message)

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}
_VALUE_RULES = {"type", "minimum", "maximum", "pattern", "enum", "const", "minLength", "maxLength"}
_GRAIN_ORDER = {"record": 0, "month": 1, "quarter": 3, "year": 12}
_TIME_TYPES = {"date", "datetime", "month"}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS = {"agency", "dataset"}
DEFAULT_LANDING = "{agency}/{dataset}"
RESERVED_IDS = {"index"}  # requests/<cycle>/index.md sits beside the <agency>.md files
CSP_CODE = re.compile(r"^(E22|W14)\d{6}$")
ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@cache
def schema() -> dict[str, Any]:
    """The plan schema shipped beside this module (also the public, documented contract)."""
    text = resources.files("csp_audit.plan").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def key_path(parts: Iterable[Any]) -> str:
    """``datasets.x.columns[2].type``: the way a person finds the spot in the YAML."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def shown(value: Any) -> str:
    """The offending value as the reader typed it; YAML dates come back as dates, so show them as written."""
    if value is None:
        return "nothing"
    if isinstance(value, date):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------------------------ schema


def schema_problems(doc: Any) -> list[Problem]:
    """Every schema violation, translated; sorted by key path so related problems sit together."""
    validator = Draft202012Validator(schema())
    found: list[Problem] = []
    for error in validator.iter_errors(doc):
        found.extend(_translate(error))
    return sorted(dict.fromkeys(found), key=lambda p: p[0])


def _expect(error: ValidationError) -> str | None:
    node = error.schema if isinstance(error.schema, dict) else {}
    return node.get("x-expect")


def _translate(error: ValidationError) -> Iterator[Problem]:
    path = list(error.absolute_path)
    rule = error.validator
    if "propertyNames" in error.absolute_schema_path:
        yield key_path(path), f"key {shown(error.instance)} must be {_expect(error) or 'a valid id'}"
    elif rule in {"anyOf", "oneOf"}:
        yield from _translate_choice(error, path)
    elif rule == "required":
        for key in error.validator_value:
            if isinstance(error.instance, dict) and key not in error.instance:
                yield key_path([*path, key]), "is required"
    elif rule == "additionalProperties":
        allowed = sorted((error.schema or {}).get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"did you mean '{hint[0]}'? " if hint else ""
                yield key_path([*path, key]), f"unknown key ({extra}allowed: {', '.join(allowed)})"
    elif rule == "uniqueItems":
        yield key_path(path), "lists the same value more than once"
    elif rule == "minItems":
        yield key_path(path), f"must list at least {error.validator_value} item(s)"
    elif rule == "minProperties":
        yield key_path(path), f"must list at least {error.validator_value} entry"
    elif rule in _VALUE_RULES:
        expect = _expect(error) or _fallback(error)
        yield key_path(path), f"must be {expect}, got {shown(error.instance)}"
    else:
        yield key_path(path), error.message


def _fallback(error: ValidationError) -> str:
    value = error.validator_value
    if error.validator == "type":
        return _TYPE_WORDS.get(str(value), str(value))
    if error.validator == "enum":
        return "one of " + ", ".join(map(str, value))
    if error.validator == "minimum":
        return f">= {value}"
    if error.validator == "maximum":
        return f"<= {value}"
    return f"valid ({error.validator} {value!r})"


def _translate_choice(error: ValidationError, path: list[Any]) -> Iterator[Problem]:
    """For 'x or list of x': when a list was given, report inside the list; otherwise state both options."""
    if isinstance(error.instance, (list, dict)):
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context or []:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        fitting = [subs for subs in branches.values() if not any(_wrong_type(s, error) for s in subs)]
        if len(fitting) == 1:
            for sub in fitting[0]:
                yield from _translate(sub)
            return
    yield (
        key_path(path),
        f"must be {_expect(error) or 'one of the allowed forms'}, got {shown(error.instance)}",
    )


def _wrong_type(sub: ValidationError, parent: ValidationError) -> bool:
    """True when this branch failed because the value is of another kind altogether (e.g. a list vs 'all')."""
    return sub.absolute_path == parent.absolute_path and sub.validator in {"type", "const", "enum"}


# ------------------------------------------------------------------------------------------------- rules


def rule_problems(doc: Any) -> list[Problem]:
    """Cross-key rules, written to tolerate a document that also fails the schema (so all errors show)."""
    if not isinstance(doc, dict):
        return []
    agencies = doc.get("agencies") if isinstance(doc.get("agencies"), dict) else {}
    datasets = doc.get("datasets") if isinstance(doc.get("datasets"), dict) else {}
    cycle = doc.get("cycle") if isinstance(doc.get("cycle"), dict) else {}
    months = cycle.get("months") if isinstance(cycle.get("months"), int) else None
    found: list[Problem] = []
    folders: dict[str, str] = {}
    for reserved in sorted(RESERVED_IDS & set(agencies)):
        found.append(
            (key_path(["agencies", reserved]), f"the id {reserved!r} is reserved (it names a request file)")
        )
    for ds_id, ds in datasets.items():
        if not isinstance(ds, dict):
            continue
        base = ["datasets", ds_id]
        ids = _agency_ids(ds.get("agency"))
        found.extend(_agency_refs(base, ds.get("agency"), agencies))
        found.extend(_partnership_refs(base, ds.get("partnerships"), ids, agencies))
        found.extend(_sharing_rules(base, ds, ids, agencies))
        found.extend(_time_rules(base, ds, months))
        found.extend(_geography_rules(base, ds.get("geography"), ds.get("columns")))
        found.extend(_column_rules(base, ds.get("columns")))
        found.extend(_landing_rules(base, ds_id, ds, ids, folders))
        if isinstance(ds_id, str) and ID.match(ds_id) and ds_id not in modelled_datasets():
            found.append((key_path(base), f"no dbt model reads dataset {ds_id!r}: its deliveries would load and "
                          f"then fail every build (add models/staging/<source>/ with a source table ds__{ds_id} "
                          "first); datasets with models: " + ", ".join(sorted(modelled_datasets()))))  # fmt: skip
    return found


@cache
def modelled_datasets() -> frozenset[str]:
    """Datasets the dbt project reads: the ``ds__<dataset>`` source tables its staging folders declare."""
    from csp_audit.config.safe_yaml import safe_yaml
    from csp_audit.paths import dbt_project_dir

    found: set[str] = set()
    for path in sorted((dbt_project_dir() / "models" / "staging").glob("*/_*__sources.yml")):
        for source in (safe_yaml(path.read_text(encoding="utf-8")) or {}).get("sources") or []:
            for table in source.get("tables") or []:
                name = str(table.get("name", ""))
                if name.startswith("ds__"):
                    found.add(name.removeprefix("ds__"))
    return frozenset(found)


def _agency_ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _agency_refs(base: list[Any], value: Any, agencies: dict[str, Any]) -> Iterator[Problem]:
    refs = [(base + ["agency"], value)] if isinstance(value, str) else []
    if isinstance(value, list):
        refs = [(base + ["agency", i], v) for i, v in enumerate(value) if isinstance(v, str)]
    for path, agency in refs:
        if ID.match(agency) and agency not in agencies:  # a malformed id already has its schema error
            yield key_path(path), f"unknown agency {agency!r} ({_known(agency, [str(a) for a in agencies])})"


def _known(value: str, known: list[str]) -> str:
    """A did-you-mean for typos; the full list only while it is short enough to read."""
    hint = difflib.get_close_matches(value, known, n=1)
    if hint:
        return f"did you mean {hint[0]!r}?"
    return f"agencies: {', '.join(sorted(known))}" if 0 < len(known) <= 8 else "see the agencies section"


def _serves(agencies: dict[str, Any], agency: str) -> list[str]:
    entry = agencies.get(agency)
    serves = entry.get("serves") if isinstance(entry, dict) else None
    return [str(c) for c in serves] if isinstance(serves, list) else []


def _partnership_refs(
    base: list[Any], value: Any, ids: list[str], agencies: dict[str, Any]
) -> Iterator[Problem]:
    """A listed partnership must be served by one of the dataset's agencies, or nobody would deliver it."""
    if not isinstance(value, list) or not all(a in agencies for a in ids) or not ids:
        return
    served = {code for a in ids for code in _serves(agencies, a)}
    for i, code in enumerate(value):
        if isinstance(code, str) and CSP_CODE.match(code) and code not in served:
            yield (
                key_path(base + ["partnerships", i]),
                f"{code} is not served by {' or '.join(ids)} (see agencies.<id>.serves)",
            )


def _sharing_rules(
    base: list[Any], ds: dict[str, Any], ids: list[str], agencies: dict[str, Any]
) -> Iterator[Problem]:
    sharing = ds.get("sharing")
    if not isinstance(sharing, dict):
        return
    path = base + ["sharing"]
    # Fuzzing fix: values are only compared as text below; a list or mapping in these places (already a
    # schema error) made the set look-ups raise TypeError (unhashable), so non-text values count as absent.
    level = _text(sharing.get("level"))
    types = {_text(agencies[a].get("type")) for a in ids if isinstance(agencies.get(a), dict)}
    if "consultation" in types and level == "record":
        yield (
            key_path(path + ["level"]),
            "consultation responses must be shared 'aggregate' or 'deidentified', got 'record'",
        )
    if level == "aggregate" and "min_cell_size" not in sharing:
        yield (
            key_path(path + ["min_cell_size"]),
            "is required when level is 'aggregate' (small counts identify people)",
        )
    pseudo = sharing.get("pseudonymise")
    if level == "aggregate" and pseudo:
        yield (
            key_path(path + ["pseudonymise"]),
            "only applies to record or deidentified data, not 'aggregate'",
        )
    if level in {"record", "deidentified"} and _text(sharing.get("rounding")) not in {None, "none"}:
        yield key_path(path + ["rounding"]), f"only applies to counts (level 'aggregate'), not {level!r}"
    # Fuzzing fix: columns was iterated whatever it was (an integer raised TypeError).
    columns = ds.get("columns") if isinstance(ds.get("columns"), list) else []
    names = {_text(c.get("name")) for c in columns if isinstance(c, dict)}
    if isinstance(pseudo, list) and isinstance(ds.get("columns"), list):
        for i, field in enumerate(pseudo):
            if isinstance(field, str) and field not in names:
                listed = ", ".join(sorted(str(n) for n in names if n is not None))
                yield (
                    key_path(path + ["pseudonymise", i]),
                    f"{field!r} is not a column of this dataset ({listed})",
                )


def _text(value: Any) -> str | None:
    """The value if it is text, else None: rules look values up in sets, which a list or mapping breaks."""
    return value if isinstance(value, str) else None


def _time_rules(base: list[Any], ds: dict[str, Any], months: int | None) -> Iterator[Problem]:
    grain, cadence = _text(ds.get("time_grain")), _text(ds.get("cadence"))  # fuzzing fix: see _text
    if cadence in CADENCE_MONTHS and grain in _GRAIN_ORDER and _GRAIN_ORDER[grain] > CADENCE_MONTHS[cadence]:
        yield key_path(base + ["time_grain"]), f"{grain!r} is coarser than the {cadence} deliveries"
    if cadence in CADENCE_MONTHS and months is not None and months % CADENCE_MONTHS[cadence]:
        yield (
            key_path(base + ["cadence"]),
            f"{cadence} deliveries need cycle.months to be a multiple of {CADENCE_MONTHS[cadence]}, it is {months}",
        )
    columns = ds.get("columns")
    if grain == "record" and isinstance(columns, list):
        if not any(isinstance(c, dict) and _text(c.get("type")) in _TIME_TYPES for c in columns):
            yield key_path(base + ["columns"]), "record-level data needs a date, datetime or month column"


def _geography_rules(base: list[Any], geo: Any, columns: Any, key: str = "geography") -> Iterator[Problem]:
    """Boundary years that exist, and ``column``/``fallback.column`` naming code columns of the contract."""
    if not isinstance(geo, dict):
        return
    kind, vintage = geo.get("type"), geo.get("vintage")
    path = key_path(base + [key, "vintage"])
    if kind == "lsoa" and vintage not in (2001, 2011, 2021):
        yield path, f"LSOA boundaries exist for the 2001, 2011 and 2021 censuses only, got {shown(vintage)}"
    elif kind == "ward" and vintage is None:
        yield path, "is required for wards (ward boundaries change almost every year)"
    types = {
        c["name"]: c.get("type")
        for c in (columns if isinstance(columns, list) else [])
        if isinstance(c, dict) and isinstance(c.get("name"), str)
    }
    column = geo.get("column")
    if isinstance(column, str) and types:
        if column not in types:
            yield key_path(base + [key, "column"]), f"{column!r} is not a column of the dataset"
        elif types[column] != "code":
            yield key_path(base + [key, "column"]), f"{column!r} holds area codes, so its type must be code"
    fallback = geo.get("fallback")
    if isinstance(fallback, dict):
        sub = f"{key}.fallback"
        yield from _geography_rules(base, fallback, columns, sub)
        if fallback.get("column") == column or (
            column is None and fallback.get("column") == _first_code(columns)
        ):
            yield key_path(base + [sub, "column"]), "must differ from the column it stands in for"


def _first_code(columns: Any) -> Any:
    """The column a geography without ``column`` reads: the contract's first column of type code."""
    codes = (c.get("name") for c in (columns if isinstance(columns, list) else []) if isinstance(c, dict)
             and c.get("type") == "code")  # fmt: skip
    return next(codes, None)


def _column_rules(base: list[Any], columns: Any) -> Iterator[Problem]:
    if not isinstance(columns, list):
        return
    seen: set[str] = set()
    for i, column in enumerate(columns):
        name = column.get("name") if isinstance(column, dict) else None
        if isinstance(name, str):
            if name in seen:
                yield key_path(base + ["columns", i, "name"]), f"{name!r} is listed twice"
            seen.add(name)


def _landing_rules(
    base: list[Any], ds_id: str, ds: dict[str, Any], ids: list[str], folders: dict[str, str]
) -> Iterator[Problem]:
    """Each agency's deliveries of a dataset need their own folder, or the board would mix them up."""
    landing = ds.get("landing")
    template = landing.get("path") if isinstance(landing, dict) else DEFAULT_LANDING
    if not isinstance(template, str):
        return
    path = key_path(base + ["landing", "path"])
    unknown = sorted(set(PLACEHOLDER.findall(template)) - PLACEHOLDERS)
    if unknown:
        yield path, f"unknown placeholder {{{unknown[0]}}} (allowed: {{agency}}, {{dataset}})"
        return
    if len(ids) > 1 and "{agency}" not in template:
        yield path, "must contain {agency} when several agencies deliver the dataset"
    for agency in ids:
        folder = landing_folder(template, agency, ds_id)
        other = folders.setdefault(folder, f"{ds_id}/{agency}")
        if other != f"{ds_id}/{agency}":
            yield path, f"folder {folder!r} is also used by {other.replace('/', ' from ')}"


def landing_folder(template: str, agency: str, dataset: str) -> str:
    """Fill the landing template; shared so validation and the board agree on every folder."""
    return template.replace("{agency}", agency).replace("{dataset}", dataset).strip("/")
