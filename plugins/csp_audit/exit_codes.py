"""Exit codes of ``csp-audit`` (a public contract; every command uses these).

- ``0`` success;
- ``1`` the pipeline failed (one line names the DAG, the step, the file and the rule);
- ``2`` the region, plan, register or arguments are invalid (the message names the key);
- ``3`` (``run --region``) the run finished but one or more deliveries were rejected.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REJECTED = 3
