"""Data quality: one gate engine for every delivery and for the harmonised fact, and the feedback.

DuckDB reads and checks (:mod:`~csp_audit.quality.strict_csv`, :mod:`~csp_audit.quality.batch`), Great
Expectations validates on its SQL path over DuckDB (:mod:`~csp_audit.quality.gx_duckdb`) with the suite in
force for each dataset (:mod:`~csp_audit.quality.suites`, :mod:`~csp_audit.quality.contract_suites`);
:mod:`~csp_audit.quality.gate` runs deliveries through it, :mod:`~csp_audit.quality.fact_gate` the
harmonised fact. :mod:`~csp_audit.quality.feedback` and :mod:`~csp_audit.quality.data_docs` tell the
agencies what failed.

Great Expectations costs seconds to import, so these modules import it lazily: DAG files can import
``csp_audit`` freely and parse fast.
"""
