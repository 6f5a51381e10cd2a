"""Co-ordinated requests to agencies and following up what arrived.

- :mod:`~csp_audit.requests.letters`: one request per agency per audit cycle, from the data plan;
- :mod:`~csp_audit.requests.arrivals`: the arrival board (expected against received, late, overdue, rejected).
"""
