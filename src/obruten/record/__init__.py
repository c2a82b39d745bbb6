"""The journal's domain: patients, notes, medication, referrals, access, audit, staff, its schema and its web."""
