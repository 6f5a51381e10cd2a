"""csp_audit: co-ordinated crime and disorder audits for Community Safety Partnerships.

The package holds all shared logic; DAG files under ``dags/`` only resolve paths and call it.
"""

__version__ = "0.1.0"
