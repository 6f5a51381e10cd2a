"""Reading YAML that people write: ``yaml.safe_load`` with a bound on alias expansion, and no
duplicate keys (PyYAML keeps the last silently, so a region that names ``police_uk`` twice would run
on whichever came last without a word).

The region and plan YAML are read at every DAG parse, so the libyaml loader is used when PyYAML was
built with it (the wheels are): about 10x faster than the pure-Python one.
"""

from __future__ import annotations

from typing import Any

import yaml

# Fuzzing fix: yaml.safe_load keeps aliases shared, but everything after it (str(), repr() in messages, schema
# validation) walks the expanded document, so a few hundred bytes of nested aliases (a "billion laughs") hung
# load_region and load_plan. safe_yaml refuses a document whose alias expansion exceeds this many nodes.
MAX_YAML_NODES = 100_000


# libyaml's loader when PyYAML was built with it (the wheels are): about 10x faster, which matters
# because the plan YAML is read at every DAG parse.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse_duplicate_keys(mapping: yaml.MappingNode) -> None:
    """Raise ``yaml.YAMLError`` naming the key and both lines when a mapping repeats a key."""
    seen: dict[str, int] = {}
    for key, _ in mapping.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise yaml.YAMLError(
                f"duplicate key {key.value!r} on line {line} (first on line {seen[key.value]}); "
                "each key may appear once"
            )
        seen[key.value] = line


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` that raises ``yaml.YAMLError`` when aliases would expand the document too far."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}

        def size(item: yaml.Node) -> int:  # expanded size, each shared node computed once
            if id(item) not in sizes:
                sizes[id(item)] = 1  # a recursive alias counts once
                children = item.value if isinstance(item, yaml.SequenceNode) else []
                if isinstance(item, yaml.MappingNode):
                    children = [part for pair in item.value for part in pair]
                    _refuse_duplicate_keys(item)
                sizes[id(item)] = 1 + sum(size(child) for child in children)
            return sizes[id(item)]

        if size(node) > MAX_YAML_NODES:
            raise yaml.YAMLError(f"aliases expand the document to over {MAX_YAML_NODES} values")
        return loader.construct_document(node)
    finally:
        loader.dispose()
