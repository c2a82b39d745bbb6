"""Operating modes and the one signed status message shown everywhere (R15, R16).

The status model, shared by every UI and importing none: ``document``: the signed, versioned
status document and its rules; ``ledger``: the last accepted document a node keeps on disk;
``follower``: polls the status service and accepts pushes; ``banner``: the same banner HTML for
every UI (its template and CSS ship here, ``templates/`` and ``static/``); ``guard``: the write
guard for reserve routines; ``cli``: ``obruten status …``. Issuing lives in the ops service
(``obruten.ops.status_service`` and ``obruten.ops.status_api``, ADR 0023); the journal's
``/api/v1/status`` and middleware in ``obruten.record.status_api``.
"""
