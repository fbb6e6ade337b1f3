"""Resources: local proxies of the cloud's objects (Machine, Snapshot), their values and checks.

They hold the last payload fetched and make requests only in their methods (see
ARCHITECTURE: explicit local proxies). They sit on the transport and the rules
table, and reach the views and waits only through :mod:`smartdc_nb.seam`.
This package module imports nothing, so loading one resource loads only what it needs.
"""
