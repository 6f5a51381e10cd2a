"""Where deliveries come from, each found as a :class:`~csp_audit.sources.delivery.Delivery`.

- :mod:`~csp_audit.sources.police_uk`: police.uk street files in the archive layout (the region's
  ``sources.police_uk`` folder), the format's columns and its one file-name parser;
- :mod:`~csp_audit.sources.landing`: every other agency's landing zone (``file://``, ``sftp://``, ``s3://``);
- :mod:`~csp_audit.sources.archive`: pulling police.uk street files from the monthly archive.
"""
