"""The ward agent: the downtime kit's local app on each ward (kits, local web app, downtime documentation)."""
