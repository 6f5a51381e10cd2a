"""Fictional data for csp-audit: the demo region, its agencies' deliveries and the national benchmark.

Not part of the runtime package (a deployment does not ship it): ``make venv`` installs it beside
``csp_audit`` for ``csp-audit demo``, the tests and ``make bench``.

- :mod:`~csp_audit_demo.region`: a region with two police forces and five partnerships, its ONS-style
  lookups and 36 months of police.uk street files with the real files' quirks;
- :mod:`~csp_audit_demo.plan`: its data plan (17 agencies, 11 datasets);
- :mod:`~csp_audit_demo.agencies`: every other agency's deliveries, with planted defects;
- :mod:`~csp_audit_demo.targets`: SMART target registers per partnership;
- :mod:`~csp_audit_demo.national`: the national-scale region of the benchmark;
- :mod:`~csp_audit_demo.national_plan`: its data plan and every agency's deliveries at national scale.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_ENV = "CSP_AUDIT_PSEUDONYMISATION_KEY"
FIRST_MONTH = "2021-04"


@dataclass(frozen=True)
class Demo:
    """A generated demo: its folder, plan, and the day arrivals are judged as of."""

    out: Path
    plan: Path
    as_of: str

    def write_targets(self) -> list[Path]:
        """The partnerships' SMART target registers, baselines taken from the built warehouse."""
        from csp_audit_demo.targets import write_demo_targets

        return write_demo_targets(self.out)


def _month_after(month: str, n: int) -> str:
    year, mon = divmod(int(month[:4]) * 12 + int(month[5:7]) - 1 + n, 12)
    return f"{year:04d}-{mon + 1:02d}"


def demo_key(out: Path) -> None:
    """A pseudonymisation key for the demo only, kept beside its output (never in the repo)."""
    key_file = out / ".secrets" / "pseudonymisation.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32) + "\n")
        key_file.chmod(0o600)
    os.environ.setdefault(KEY_ENV, key_file.read_text().strip())


def generate_demo(out: Path, *, seed: int = 20260401, months: int = 36, scale: float = 1.0) -> Demo:
    """The demo region, its data plan and every agency's deliveries under ``out``; sets the demo's key."""
    from csp_audit.progress import progress

    from csp_audit_demo.agencies import generate_agency_deliveries
    from csp_audit_demo.plan import write_demo_plan
    from csp_audit_demo.region import generate_demo_region

    generate_demo_region(out, seed=seed, months=months, scale=scale)
    plan = write_demo_plan(out)
    written = generate_agency_deliveries(out, seed=seed + 1, months=months, scale=scale)
    progress(f"demo deliveries: {', '.join(f'{k} {v} rows' for k, v in sorted(written.items()))}")
    demo_key(out)
    # judge arrivals on the day the last period's deliveries were all due
    last = _month_after(_month_after(FIRST_MONTH, months - 1), 1)
    return Demo(out=out, plan=plan, as_of=f"{last}-28")
