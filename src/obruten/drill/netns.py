"""The partition drill's own cluster layout: every member in a network namespace of its own.

Each member gets a namespace with a veth pair whose other end is a port of one bridge in this
namespace; the bridge has the gateway address, so the drill (and its writers) reach every member
on ``<subnet>.<10 + index>``. Cutting a member off is ``ip link set <its bridge port> down``: it then
reaches neither the DCS majority, nor its standbys, nor any client outside its own namespace, while
a client *inside* its namespace (the drill's "same-site" writer) still reaches its PostgreSQL on the
namespace's loopback, as a journal at the cut-off site would.

Needs root and iproute2's ``ip`` (no iptables/nft: a link that is down needs no packet filter).
The default ``cluster up`` layout is untouched: it keeps every member on 127.0.0.1 (ADR 0051).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass, replace

from obruten.cluster.topology import Member, Topology
from obruten.drill.faults import DrillError


def unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "the partition drill needs root (it creates network namespaces)"
    for tool in ("ip", "setpriv"):
        if shutil.which(tool) is None:
            return f"the partition drill needs `{tool}` (Debian: iproute2 / util-linux)"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise DrillError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class Net:
    token: str  # 4 hex digits: names of this drill's namespaces, veths and bridge
    subnet: str  # the first three octets, e.g. "10.213.7"

    @classmethod
    def new(cls) -> Net:
        token = secrets.token_hex(2)
        return cls(token, f"10.213.{int(token, 16) % 250}")

    @property
    def bridge(self) -> str:
        return f"obr{self.token}br"

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    def namespace(self, m: Member) -> str:
        return f"obruten-{self.token}-{m.name}"

    def address(self, m: Member) -> str:
        return f"{self.subnet}.{10 + m.index}"

    def host_end(self, m: Member) -> str:
        """The veth end in this namespace (a bridge port): down = the member is cut off."""
        return f"obr{self.token}h{m.index}"

    def member_end(self, m: Member) -> str:
        return f"obr{self.token}n{m.index}"

    def place(self, topo: Topology) -> Topology:
        """``topo`` with every member on its namespace's address."""
        members = tuple(replace(m, host=self.address(m), netns=self.namespace(m)) for m in topo.members)
        return replace(topo, members=members)

    # ---- plumbing ------------------------------------------------------------------------------
    def create(self, members: tuple[Member, ...]) -> None:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for m in members:
                ns = self.namespace(m)
                _ip("netns", "add", ns)
                _ip("link", "add", self.host_end(m), "type", "veth", "peer", "name", self.member_end(m))
                _ip("link", "set", self.member_end(m), "netns", ns)
                _ip("link", "set", self.host_end(m), "master", self.bridge)
                _ip("link", "set", self.host_end(m), "up")
                _ip("-n", ns, "addr", "add", f"{self.address(m)}/24", "dev", self.member_end(m))
                _ip("-n", ns, "link", "set", self.member_end(m), "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except DrillError:
            self.destroy(members)
            raise

    def destroy(self, members: tuple[Member, ...]) -> None:
        """Remove the namespaces (their veth pairs go with them) and the bridge; never raises."""
        for m in members:
            _ip("netns", "del", self.namespace(m), check=False)
            _ip("link", "del", self.host_end(m), check=False)
        _ip("link", "del", self.bridge, check=False)

    def cut(self, m: Member) -> None:
        _ip("link", "set", self.host_end(m), "down")

    def heal(self, m: Member) -> None:
        _ip("link", "set", self.host_end(m), "up")

    def exec_argv(self, m: Member, argv: list[str]) -> list[str]:
        """``argv`` run inside ``m``'s namespace (as root: the drill's own same-site writer)."""
        return ["ip", "netns", "exec", self.namespace(m), *argv]


def free_port_block(size: int = 30) -> int:
    """A base port with ``size`` free ports above it on this namespace's loopback (``cluster up``
    checks them there even for members that listen inside their own namespaces)."""
    for base in range(33000, 40000, 50):
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s, contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                continue
            ok = False
            break
        if ok:
            return base
    raise DrillError("no block of free ports for the partition drill's cluster")
