"""The ops service: probes that catch slow, alarms by function with escalation, incidents and
preparedness. It keeps its own store and never needs the journal database to work."""
