"""Test-only fault points: the fault suite kills a real process at a named point of the publish chain.

Inert unless ``$CSP_AUDIT_FAULT_POINT`` is set: every call is then one dictionary look-up of the
environment, nothing else. With ``CSP_AUDIT_FAULT_POINT=<point>`` the process sends itself SIGKILL the
first time it reaches ``<point>``; ``<point>@<n>`` waits for the n-th time (e.g. ``deliver:partnership@2``:
after the second partnership's delivery). Before dying it writes one line naming the point to stderr, so a
test can tell the intended kill from any other death. SIGKILL, not an exception: nothing in the process
(no ``finally``, no Airflow failure handling) gets to tidy up, as when the machine loses power or the OOM
killer strikes.

Points (each after the step named, before the next):

* ``release:staged``: a partnership's pack is complete in its hidden staging folder, not yet released;
* ``release:visible``: the version folder has been renamed into place (so it is visible), before the
  ``latest`` pointer and ``releases.csv`` are updated;
* ``publish:released``: every pack is released, before anything is delivered;
* ``deliver:partnership``: one partnership's release is in the outbox with its ``DELIVERED`` marker;
* ``notify:partnership``: one partnership's notice has been sent and its marker removed.

Never set the variable outside tests.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULT_ENV = "CSP_AUDIT_FAULT_POINT"
POINTS = (
    "release:staged",
    "release:visible",
    "publish:released",
    "deliver:partnership",
    "notify:partnership",
)
_reached: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """SIGKILL this process here if ``$CSP_AUDIT_FAULT_POINT`` names this point (and count); else nothing."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] < int(nth or 1):
        return
    from csp_audit.progress import error  # the console's stderr, also when a run log holds fd 2

    error(f"[csp-audit] fault point {spec}: SIGKILL")
    os.kill(os.getpid(), signal.SIGKILL)
