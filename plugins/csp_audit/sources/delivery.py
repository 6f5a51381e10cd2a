"""One delivered file, whatever its source: what the gate validates and the load stores.

A delivery is identified by its content (``sha256``), so a renamed, re-sent or retried file is
recognised, and belongs to one (dataset, agency, period). ``source_file`` is where it sits relative to
its source (stable when the source moves); ``path`` is the local file the engines read.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Protocol

_CHUNK = 1 << 20


class _Readable(Protocol):
    def open(self, mode: str) -> Any: ...


def content_hash(path: _Readable) -> tuple[str, int]:
    """SHA-256 and byte count of one read (a local Path or an ObjectStoragePath, streamed), so size and
    hash agree even if the file changes meanwhile. The hash is a delivery's identity."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class Delivery:
    sha256: str
    dataset: str
    agency: str
    period: str  # YYYY-MM: the first month the delivery covers
    source_file: str
    size: int
    received_at: str  # when it arrived (UTC, ISO seconds): the file's modification time
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> Delivery:
        return cls(**{k: item[k] for k in cls.__dataclass_fields__})
