"""How every ``csp-audit`` command reports a failure: ``csp-audit: error: ...`` on stderr, one line per
line of the message (a plan lists every problem), and the exit code (:mod:`csp_audit.exit_codes`)."""

from __future__ import annotations

from csp_audit.exit_codes import EXIT_BAD_INPUT
from csp_audit.progress import error


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    for line in message.splitlines() or [""]:
        error(f"csp-audit: error: {line}")
    return code
