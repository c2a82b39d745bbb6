"""The journal's web UI (server-rendered, works without JavaScript) and JSON API under /api/v1."""
