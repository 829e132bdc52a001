"""Where ``azuraforge serve`` can be reached: the addresses of this machine a browser can use
when it is bound to all of them (``0.0.0.0``, ``::``). Whether its bind address is this
machine's loopback is :func:`azuraforge.platform.hosts.is_loopback_bind`'s to say (the API
asks it too)."""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from pathlib import Path

from azuraforge.platform.hosts import EVERY_ADDRESS, is_loopback

SIOCGIFADDR = 0x8915
"""Linux's ioctl that reads an interface's IPv4 address."""
IPV6_ADDRESSES = Path("/proc/net/if_inet6")
"""Linux's list of this machine's IPv6 addresses."""


def reachable_urls(host: str, port: int) -> list[str]:
    """The URLs a server bound to ``host:port`` answers at: for ``0.0.0.0`` each IPv4
    address of this machine (``::``: and each IPv6 one), the others before loopback ones.

    >>> reachable_urls("127.0.0.1", 8000), reachable_urls("::1", 8000)
    (['http://127.0.0.1:8000'], ['http://[::1]:8000'])
    >>> "http://127.0.0.1:8000" in reachable_urls("0.0.0.0", 8000)
    True
    """
    if host in EVERY_ADDRESS or not host:
        found = _ipv4_addresses() + (_ipv6_addresses() if ":" in host else [])
        addresses = sorted(dict.fromkeys(found), key=is_loopback)
    else:
        addresses = [host]
    return [f"http://[{a}]:{port}" if ":" in a else f"http://{a}:{port}" for a in addresses]


def _ipv4_addresses() -> list[str]:
    if sys.platform != "linux":
        return _resolved(socket.AF_INET)
    import fcntl

    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
            except OSError:  # an interface without an IPv4 address
                continue
            found.append(socket.inet_ntoa(answer[20:24]))
    return found or _resolved(socket.AF_INET)


def _ipv6_addresses() -> list[str]:
    """This machine's IPv6 addresses, but link-local ones (a URL would need their zone)."""
    try:
        lines = IPV6_ADDRESSES.read_text().splitlines()
    except OSError:  # not Linux
        return _resolved(socket.AF_INET6)
    addresses = [ipaddress.IPv6Address(bytes.fromhex(line.split()[0])) for line in lines]
    return [str(address) for address in addresses if not address.is_link_local]


def _resolved(family: socket.AddressFamily) -> list[str]:
    """The addresses this machine's own name resolves to, and its loopback address."""
    loopback = "127.0.0.1" if family == socket.AF_INET else "::1"
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, family)
    except OSError:
        return [loopback]
    return [str(info[4][0]) for info in infos] + [loopback]
