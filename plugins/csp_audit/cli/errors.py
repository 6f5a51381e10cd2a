"""How every ``csp-audit`` command reports a failure: ``csp-audit: error: ...`` on stderr, one line per
line of the message (a plan lists every problem), and the exit code (:mod:`csp_audit.exit_codes`)."""

from __future__ import annotations

import sys

from csp_audit.exit_codes import EXIT_BAD_INPUT


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    for line in message.splitlines() or [""]:
        print(f"csp-audit: error: {line}", file=sys.stderr, flush=True)
    return code
