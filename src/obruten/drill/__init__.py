"""Continuity drills as code: a fault under a steady write load, measured and reported."""
