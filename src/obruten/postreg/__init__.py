"""Post-registration (efterregistrering): the journal's side of downtime documentation.

A ward agent records notes and medication administrations while the journal is unreachable and
submits them in batches when it is back (``models``: the batch format; ``agents``: how an agent
proves which unit and device it is). ``queue`` keeps what was received, exactly once per
idempotency key; ``service`` lets staff review each entry and registers it as a real record entry
with its original clinical time and a durable downtime marker; ``web`` is the API and the screens.
"""
