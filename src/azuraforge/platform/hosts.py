"""The names this server answers to: a defence against DNS rebinding.

A web page on ``attacker.example`` can make its own name resolve to this machine's address
(127.0.0.1, or the server's address on a LAN) once the page has loaded. The user's browser
then sends the page's requests here, as requests of the page's own origin, so the check of
``Origin`` lets them pass; only their ``Host`` header, ``attacker.example``, tells them
apart. Requests are therefore answered only when their ``Host`` names this server: a
loopback name, the address it is bound to, or an entry of the ``allowed_hosts`` setting.

An IP address in ``Host`` cannot be rebound (a browser sends it only to pages of that very
address), so a server bound to every address (``0.0.0.0``, ``::``) answers any IP address;
names must still be listed. A request without ``Host`` (HTTP/1.0) comes from no browser,
so no page can send it, and it is answered.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable
from fnmatch import fnmatchcase

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""The names every server answers to (any loopback address is answered too)."""
EVERY_ADDRESS = frozenset({"0.0.0.0", "::"})
"""Bind addresses meaning "every address of this machine"; as allowed hosts, any IP address."""
_HOST = re.compile(
    r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.*-]+))(?::(?P<port>[0-9]{1,5}))?",
    re.ASCII,
)


def host_of(header: str) -> str | None:
    """The host a ``Host`` header names, without its port, in lower case and without the
    brackets of an IPv6 address; ``None`` when it names none.

    Examples
    --------
    >>> host_of("Attacker.Example:8731"), host_of("[::1]:8000"), host_of("127.0.0.1")
    ('attacker.example', '::1', '127.0.0.1')
    >>> host_of("af.example.org."), host_of("[0:0::1]")
    ('af.example.org', '::1')
    >>> [host_of(bad) for bad in ("::1", "[::1]x", "host:port", "a b", "*", "[zz]", "")]
    [None, None, None, None, None, None, None]
    """
    found = _HOST.fullmatch(header.strip().lower())
    if found is None or "*" in header:
        return None
    return _canonical(found["ipv6"], found["name"])


def allowed_host_entry(entry: str) -> str:
    """An ``allowed_hosts`` entry as :class:`HostPolicy` compares it: a host name, an
    address or a pattern (``*.example.org``, ``192.168.*``; ``*`` allows every host), in
    lower case, any port dropped (the port is never checked).

    Raises
    ------
    ValueError
        When ``entry`` is none of these (a URL, a path), naming it.

    Examples
    --------
    >>> [allowed_host_entry(e) for e in ("AF.example.org:8000", "[fd00::1]", "fd00::1", "*")]
    ['af.example.org', 'fd00::1', 'fd00::1', '*']
    """
    text = entry.strip().lower()
    address = _ip(text)
    if address is not None:  # a bare IPv6 address has no port to take off
        return str(address)
    found = _HOST.fullmatch(text)
    host = _canonical(found["ipv6"], found["name"]) if found else None
    if host is None:
        raise ValueError(
            f"{entry!r} is not a host: give a name (af.example.org), an address (192.168.1.5, "
            "[fd00::1]) or a pattern (*.example.org), without scheme or path"
        )
    return host


def is_loopback(host: str) -> bool:
    """Whether ``host`` (as :func:`host_of` gives it) is this machine's loopback.

    >>> is_loopback("localhost"), is_loopback("127.0.0.2"), is_loopback("::1")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("192.168.1.5"), is_loopback("localhost.example")
    (False, False, False)
    """
    address = _ip(host)
    return host == "localhost" if address is None else address.is_loopback


@functools.lru_cache(maxsize=8)
def is_loopback_bind(host: str) -> bool:
    """Whether a server bound to ``host`` (an address, or a name it resolves) is reachable
    from this machine only: the one rule for "listens beyond loopback" (``azuraforge serve``
    warns of it; ``/metrics`` then needs a credential).

    >>> is_loopback_bind("127.0.0.1"), is_loopback_bind("localhost"), is_loopback_bind("::1")
    (True, True, True)
    >>> is_loopback_bind("0.0.0.0"), is_loopback_bind("::"), is_loopback_bind("")
    (False, False, False)
    """
    if not host or host in EVERY_ADDRESS:
        return False
    if is_loopback(host):
        return True
    try:
        resolved = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):  # binding there fails next, naming the reason
        return False
    return bool(resolved) and all(is_loopback(address) for address in resolved)


KEPT_ANSWERS = 256
"""The most ``Host`` headers a :class:`HostPolicy` remembers its answer for."""


class HostPolicy:
    """Which ``Host`` headers a server answers: its loopback names, and ``allowed`` (entries
    as :func:`allowed_host_entry` gives them; ``0.0.0.0`` or ``::`` allow any IP address).

    Examples
    --------
    >>> policy = HostPolicy(["af.example.org", "*.lab.example"])
    >>> [policy.allows(h) for h in ("localhost:8000", "[::1]:8000", "AF.example.org", None)]
    [True, True, True, True]
    >>> [policy.allows(h) for h in ("gpu.lab.example", "attacker.example:8000", "10.0.0.5")]
    [True, False, False]
    >>> HostPolicy(["0.0.0.0"]).allows("10.0.0.5:8000"), HostPolicy(["0.0.0.0"]).allows("x.y")
    (True, False)
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(allowed)
        self.any_address = bool(self.allowed & EVERY_ADDRESS)
        # Every request asks with its Host header, nearly always the same few: parsing an
        # address costs more than the rest of the check.
        self.allows = functools.lru_cache(maxsize=KEPT_ANSWERS)(self._allows)

    def _allows(self, header: str | None) -> bool:
        """Whether a request whose ``Host`` header is ``header`` (``None``: it has none) is
        answered (:attr:`allows`, remembered for the last :data:`KEPT_ANSWERS` headers)."""
        if header is None:
            return True
        host = host_of(header)
        if host is None:
            return False
        if is_loopback(host) or (self.any_address and _ip(host) is not None):
            return True
        return any(fnmatchcase(host, pattern) for pattern in self.allowed)


def _canonical(ipv6: str | None, name: str | None) -> str | None:
    if ipv6 is not None:
        address = _ip(ipv6)
        return str(address) if isinstance(address, ipaddress.IPv6Address) else None
    assert name is not None  # the pattern matched one of the two
    return name.removesuffix(".") or None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
