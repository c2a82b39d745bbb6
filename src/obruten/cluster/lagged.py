"""Recover from an error that was replicated: take the lagged copy out and replay it to a time
before the error.

Steps (each a sentence in the output): pause replay at once, so the error is not applied while we
work; check the copy has not already passed the target; stop its Patroni (it must never rejoin the
cluster by itself after this); restart its PostgreSQL standalone with ``recovery_target_time`` and
no apply delay, reading the WAL it already received and the archive; wait until it is promoted.
The result is a separate primary on the lagged copy's port, outside the cluster, from which the
lost data can be read or exported. ``cluster down`` stops it; ``cluster up`` does not take it back
(re-create the lagged copy by moving its data directory away and running ``cluster up``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from obruten.backup.restore import instance, parse_time
from obruten.cluster import announce, patroni
from obruten.cluster.members import ClusterError
from obruten.cluster.topology import Topology
from obruten.platform.pgserver import PostgresError
from obruten.platform.progress import Say
from obruten.platform.rows import one


def recover(topo: Topology, target_text: str, say: Say, timeout: float = 300) -> str:
    m = topo.lagged_copy
    target = parse_time(target_text)
    data_dir = topo.data_dir(m)
    url = topo.member_url(m, "postgres")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if not one(conn.execute("SELECT pg_is_in_recovery()").fetchone())[0]:
                raise ClusterError(f"{m.name} is not a standby any more (already recovered?); "
                                   "use `obruten backup restore --to` instead")
            conn.execute("SELECT pg_wal_replay_pause()")
            replayed = one(conn.execute("SELECT pg_last_xact_replay_timestamp()").fetchone())[0]
    except psycopg.OperationalError as exc:
        raise ClusterError(f"cannot reach the lagged copy on port {m.pg_port} ({exc}); use "
                           "`obruten backup restore --to` instead") from exc
    say(f"paused replay on {m.name}; last replayed commit {replayed}")
    if replayed is not None and replayed.astimezone(UTC) > target:
        raise ClusterError(f"the lagged copy already replayed past {target.isoformat()} (it is at {replayed}); "
                           "recover with `obruten backup restore --to` instead")
    say(patroni.stop(topo, m))
    settings = {
        "recovery_min_apply_delay": "0", "primary_conninfo": "''", "primary_slot_name": "''",
        "recovery_target_time": f"'{target.astimezone(UTC).isoformat()}'", "recovery_target_inclusive": "on",
        "recovery_target_action": "'promote'", "recovery_target_timeline": "'current'",
        "archive_mode": "off", "synchronous_standby_names": "''", "cluster_name": "'obruten-lagged-recovered'",
    }
    with (data_dir / "postgresql.auto.conf").open("a") as fh:
        fh.write("\n# --- obruten recover-from-lagged ---\n")
        fh.writelines(f"{k} = {v}\n" for k, v in settings.items())
    (data_dir / "standby.signal").unlink(missing_ok=True)
    (data_dir / "recovery.signal").touch()
    patroni.user_of(topo).own(data_dir)
    pg = instance(topo, data_dir, m.pg_port)
    pg.password_file = topo.root / "state" / "lagged-recovered.password"
    if not pg.password_file.exists():
        pg.password_file.write_text(topo.superuser_password)
        pg.password_file.chmod(0o600)
    pg.log_file = topo.log_dir() / f"{m.name}-recovered.log"
    say(f"replaying {m.name} to {target.isoformat()} as a standalone instance (log: {pg.log_file}) …")
    pg.start(timeout=int(timeout))
    try:
        pg.wait_until_promoted(timeout, "the lagged copy")
    except PostgresError as exc:
        raise ClusterError(f"recovery to {target.isoformat()}: {exc}") from exc
    (topo.root / "state" / "lagged-detached").write_text(datetime.now(UTC).isoformat())
    announce.emit(topo, "cluster.lagged_recovered", f"Den fördröjda kopian återställd till {target.isoformat()} "
                  "och befordrad utanför klustret", "cluster", target_time=target.isoformat(), port=m.pg_port)
    return (f"{m.name} recovered to {target.isoformat()} and promoted outside the cluster: "
            f"{topo.member_url(m).replace(topo.superuser_password, '***')}")
