"""Upgrades that say what they change and can be undone: ``obruten upgrade plan | apply | rollback``.

``plan`` lists, per store (journal, ops, ward agent), the migrations that would run and whether
each can be undone, and every feature flag that is new or would change. ``apply`` takes a
pre-upgrade snapshot (base backup + named restore point), migrates every store and records what it
did in the journal (``upgrade_run``), in ``var/upgrade/`` and as a system event. ``rollback``
returns flags and schemas to the release before the last ``apply``, using the backward SQL each
store recorded; if any migration cannot be undone it says so before changing anything and points to
the snapshot (docs/operations.md, "Upgrades").
"""
