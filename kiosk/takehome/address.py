"""The address phones use to reach the take-home server: from config, or found on the station.

Finding it only reads the station's own interface table (psutil); it never sends a packet
(no "connect a UDP socket to 8.8.8.8" trick: the station is offline, and that would be
traffic to the outside world).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any

import psutil

from kiosk.config import Settings

log = logging.getLogger(__name__)

FALLBACK_HOST = "127.0.0.1"
# Bridges and virtual links of containers and VMs: never the clinic's network.
VIRTUAL_PREFIXES = ("lo", "docker", "veth", "virbr", "br-", "vmnet", "vboxnet", "cni", "flannel",
                    "podman", "lxc", "lxd", "tun", "tap", "wg", "zt", "ifb", "dummy")
_RFC1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


@dataclass(frozen=True)
class PublicAddress:
    base_url: str  # "http://HOST:PORT"
    host: str
    port: int
    source: str  # "config", "auto (eth0)", or "fallback"
    warning: str | None = None


def _rank(name: str, address: str, is_up: bool) -> tuple[int, ...] | None:
    """Lower is better; None for addresses phones can never use."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return None
    if name.startswith(VIRTUAL_PREFIXES):
        return None
    lan = any(ip in net for net in _RFC1918)
    wired = name.startswith(("eth", "en"))
    return (0 if is_up else 1, 0 if lan else 1, 0 if wired else 1)


def lan_ipv4_candidates(addrs: dict[str, list[Any]], stats: dict[str, Any]) -> list[tuple[str, str]]:
    """(interface, address) pairs, best first, from psutil's net_if_addrs / net_if_stats shapes."""
    ranked: list[tuple[tuple[int, ...], str, str]] = []
    for name, entries in addrs.items():
        stat = stats.get(name)
        is_up = bool(getattr(stat, "isup", False))
        for entry in entries:
            if entry.family != socket.AF_INET:
                continue
            rank = _rank(name, entry.address, is_up)
            if rank is not None:
                ranked.append((rank, name, entry.address))
    ranked.sort()
    return [(name, address) for _, name, address in ranked]


def split_host_port(value: str) -> tuple[str, int | None]:
    """ "host", "host:port", "[v6]" or "[v6]:port" -> (host, port or None). Raises ValueError."""
    value = value.strip()
    if not value:
        raise ValueError("the address is empty")
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            raise ValueError(f"{value!r}: missing ']'")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{value!r}: unexpected text after ']'")
        host = f"[{host}]"
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:
        host, port_text = value, ""
    if "/" in host or " " in host:
        raise ValueError(f"{value!r} is not a host name or address")
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
        return host, int(port_text)
    return host, None


def public_address(settings: Settings, port: int | None = None) -> PublicAddress:
    """Where phones reach the server. `port` is the port actually bound (tests bind port 0)."""
    th = settings.take_home
    bound = port if port is not None else th.port
    if th.public_address.strip().lower() != "auto":
        host, given_port = split_host_port(th.public_address)
        final = given_port if given_port is not None else bound
        return PublicAddress(f"http://{host}:{final}", host, final, "config")
    candidates = lan_ipv4_candidates(psutil.net_if_addrs(), psutil.net_if_stats())
    if candidates:
        name, host = candidates[0]
        return PublicAddress(f"http://{host}:{bound}", host, bound, f"auto ({name})")
    warning = (
        "no network address found on this station: phones cannot reach it; "
        "connect it to the clinic network or set take_home.public_address in config.toml"
    )
    log.warning(warning)
    return PublicAddress(f"http://{FALLBACK_HOST}:{bound}", FALLBACK_HOST, bound, "fallback", warning)


def public_base_url(settings: Settings, port: int | None = None) -> str:
    """ "http://HOST:PORT" for links and QR codes."""
    return public_address(settings, port).base_url


def answers_healthz(base_url: str, timeout: float = 2.0) -> bool:
    """Whether the take-home server answers at `base_url` (direct: proxy settings are ignored)."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(base_url.rstrip("/") + "/healthz", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def probe_base_url(settings: Settings, address: PublicAddress) -> str:
    """Where the station itself checks that the server answers at `address`.

    The station's own addresses are tried over loopback (the kernel would route them there
    anyway), so a health check never sends a packet onto the network for them; another host
    (a reverse proxy named in public_address) is tried as given.
    """
    host = address.host.strip("[]")
    own = {entry.address.split("%")[0] for entries in psutil.net_if_addrs().values() for entry in entries}
    try:
        local = ipaddress.ip_address(host).is_loopback or host in own
    except ValueError:
        local = host == "localhost"
    if not local:
        return address.base_url
    bind = settings.take_home.bind
    target = "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind
    if ":" in target:
        target = f"[{target}]"
    return f"http://{target}:{address.port}"
