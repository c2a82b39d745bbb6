"""Infrastructure every service shares: settings, database, embedded PostgreSQL, privileges, signing, tokens, metrics, events, i18n. Knows no domain."""
