"""Status message propagation: from issue (ops API) to every node holding the new version (R16:
within 10 s), by polling only and by push, plus the cost of checking one document.

One run on this machine: an ops service (uvicorn thread, its own SQLite store, its deliver loop
running), ``--followers`` polling followers (each its own ledger on disk, polling every
``--poll`` s, as journal / read-copy processes do) and one node that receives pushes
(``/api/v1/status`` of a node app). ``--messages`` messages are issued at random moments; the
median, 95th percentile and maximum delay are printed. The goal line is printed, never asserted.

    .venv/bin/python bench/status_propagation.py [--followers 20] [--messages 10] [--poll 2]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.ops import users  # noqa: E402
from obruten.ops.app import create_app as ops_app  # noqa: E402
from obruten.ops.service import OpsService  # noqa: E402
from obruten.ops.settings import Settings  # noqa: E402
from obruten.ops.status_service import StatusIssuer, StatusSettings  # noqa: E402
from obruten.platform import config as config_mod  # noqa: E402
from obruten.status.document import StatusDocument  # noqa: E402
from obruten.status.follower import Follower  # noqa: E402
from obruten.status.ledger import Ledger  # noqa: E402


def serve(app: object) -> tuple[uvicorn.Server, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--poll", type=float, default=2.0)
    args = parser.parse_args()
    print_machine_info(machine_info(followers=args.followers, messages=args.messages, poll_s=args.poll))
    root = Path(tempfile.mkdtemp(prefix="obruten-bench-status-"))
    try:
        run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> None:
    from fastapi import FastAPI

    from obruten.record.status_api import install, node_for

    # a node that receives pushes (the journal's status routes without the journal)
    node_cfg = config_mod.load(environ={}, var_dir=root / "push-node")
    node_app = FastAPI()
    push_node = install(node_app, node_for(node_cfg))
    _, node_url = serve(node_app)

    settings = Settings(var_dir=root / "ops", backup_probe=False)
    service = OpsService(settings, probes=[])
    users.seed_demo(service.store, service.clock.now())
    issuer = StatusIssuer(service.store, service.var_dir, StatusSettings(key_file=root / "ops-key.pem",
                                                                         push_urls=(node_url,)))
    service.status_issuer = issuer  # type: ignore[attr-defined]
    stop = threading.Event()
    threading.Thread(target=service.run, args=(stop,), daemon=True).start()
    _, ops_url = serve(ops_app(service))
    for var in [root / "push-node"] + [root / f"f{i}" for i in range(args.followers)]:
        (var / "status").mkdir(parents=True, exist_ok=True)
        (var / "status" / "trusted_keys").write_text(issuer.key.trusted_line() + "\n")
    followers = [Follower(Ledger(root / f"f{i}"), [ops_url], args.poll) for i in range(args.followers)]
    for f in followers:
        f.start()

    client = httpx.Client(base_url=ops_url, timeout=10)
    token = client.post("/api/v1/session", json={"username": "tib", "password": "demo"}).json()["token"]
    poll_delays: list[float] = []
    push_delays: list[float] = []
    rng = random.Random(7)
    for n in range(args.messages):
        time.sleep(rng.uniform(0, args.poll))
        body = {"mode": rng.choice(["storning", "reservrutin", "efterregistrering"]), "headline": f"Mätning {n}",
                "routine": "RR-1", "reason": "bench"}
        r = client.post("/api/v1/status/issue", json=body, headers={"Authorization": f"Bearer {token}"})
        issued = time.monotonic()
        version = r.json()["document"]["version"]
        pending = set(range(len(followers)))
        push_seen = False
        while pending or not push_seen:
            now = time.monotonic()
            for i in list(pending):
                held = followers[i].ledger.current()
                if held is not None and held.version >= version:
                    poll_delays.append(now - issued)
                    pending.discard(i)
            held = push_node.ledger.current()
            if not push_seen and held is not None and held.version >= version:
                push_delays.append(now - issued)
                push_seen = True
            if now - issued > 30:
                print(f"message {n}: not everywhere after 30 s")
                break
            time.sleep(0.01)
        print(f"message {n + 1}/{args.messages} (v{version}) everywhere after {time.monotonic() - issued:.2f} s",
              file=sys.stderr)
    for f in followers:
        f.stop()
    stop.set()

    doc: StatusDocument = followers[0].ledger.current()  # type: ignore[assignment]
    trusted = followers[0].ledger.trusted()
    started, checks = time.perf_counter(), 0
    while time.perf_counter() - started < 1.0:
        doc.verify(trusted)
        checks += 1
    print()
    print(f"poll ({args.followers} followers every {args.poll:g} s): median {statistics.median(poll_delays):.2f} s, "
          f"p95 {pct(poll_delays, 0.95):.2f} s, max {max(poll_delays):.2f} s over {len(poll_delays)} deliveries")
    print(f"push (ops outbox → node):  median {statistics.median(push_delays):.2f} s, "
          f"p95 {pct(push_delays, 0.95):.2f} s, max {max(push_delays):.2f} s over {len(push_delays)} deliveries")
    print(f"signature + document check: {checks / (time.perf_counter() - started):,.0f} per second")
    worst = max(poll_delays + push_delays)
    print(f"goal: every node within 10 s -> {'met' if worst <= 10 else 'MISSED'} (worst {worst:.2f} s)")


if __name__ == "__main__":
    main()
