"""Event analysis (händelseanalys) of a resolved incident: the event sequence from its timeline,
why-chains down to causes by category, actions with owner, deadline and strength, sign-off by the
commissioner with versioned amendments, and a report (PDF, Markdown), de-identified on request.

It lives in the ops store (its own tables, ``schema``) and is served by the ops app
(``obruten.ops.app`` composes it): ``api`` is the JSON API under ``/api/v1/analyses``, ``web``
the console pages. This package module imports nothing, so its modules never form a cycle with it.
"""
