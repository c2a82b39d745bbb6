"""A pseudonymised clone of a production journal database, for a production-like test environment.

``catalog`` reads the source's tables and classifies every column; ``identities`` makes the
replacement identities (synthetic personal numbers, names, per-patient date shifts); ``scrub``
removes names and numbers from free text; ``transfer`` streams every table from a read-only
snapshot of the source into the target; ``check`` proves nothing of the source identities is left.
"""
