"""Operating modes and the one signed status message shown everywhere (R15, R16).

``document``: the signed, versioned status document and its rules; ``ledger``: the last accepted
document a node keeps on disk; ``follower``: polls the status service and accepts pushes;
``banner``: the same banner HTML for every UI; ``guard``: the write guard for reserve routines;
``service`` / ``ops_routes``: issuing, inside the ops service (ADR 0023); ``node_routes``: the
journal's ``/api/v1/status`` and middleware; ``cli``: ``obruten status …``.
"""
