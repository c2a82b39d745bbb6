"""Ward downtime kits (R13, successor of the 2008 "LM-backup" PC): per care unit, every admitted
patient's warnings, diagnoses, medication list with the next 24 h of administrations, what was
given in the last 24 h, latest notes and open referrals, as a signed PDF, an offline HTML file and
the JSON data, rebuilt every few minutes and fetched by each ward's agent.

Modules: ``content`` (the data, one SQL statement per unit), ``render_pdf``, ``render_html``,
``manifest`` (digests, signature, offline verification), ``store`` (kits on disk, bounded),
``build`` (one unit → files; many units on a process pool), ``web`` (serves kits to ward agents),
``cli`` (``obruten wardkit``).
"""
