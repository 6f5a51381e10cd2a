"""The body of every Airflow task: plain paths in, small dicts out.

- :mod:`~csp_audit.steps.ingest`: discover, validate, load (one ingest DAG per dataset);
- :mod:`~csp_audit.steps.build`: geography, arrival board, dbt with the fact gate, targets, summary;
- :mod:`~csp_audit.steps.publish`: analyst snapshot and docs, packs, outbox, notices.

DAG builders (:mod:`csp_audit.orchestration`) only wire these; the CLI runs the same DAGs.
"""
