"""The ward agent: runs on a ward PC (successor of the 2008 LM-backup PC), fetches its unit's
newest downtime kit, keeps the last three verified ones, and serves them on a local web page that
works with the network unplugged. ``obruten ward-agent`` starts it.
"""
