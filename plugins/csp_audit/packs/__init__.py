"""Audit packs: what each partnership receives after every audit build.

``disclosure`` applies the data plan's sharing terms (statistical disclosure control) to every
published table; ``build`` turns the audit marts into one pack per partnership (HTML report,
Excel workbook, CSV and Parquet extracts, manifest); ``release`` keeps immutable, versioned
releases with restatements; ``deliver`` copies new releases to each partnership's outbox and
notifies its contacts; ``analyst`` writes the read-only analyst copy of the warehouse and the dbt
docs site. ``docs/packs.md`` describes the rules.
"""
