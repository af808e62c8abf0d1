# SPDX-License-Identifier: GPL-3.0-or-later
"""Names in certificates: parse DNS names and IP addresses, build and check X.509 name constraints.

An intermediate may issue only for its appliance's names: DNS names (a name also covers every name
below it, as RFC 5280 says) and IP networks. A name type given no permitted entry is excluded outright
(0.0.0.0/0 and ::/0 for IP addresses), because RFC 5280 leaves a type without permitted subtrees open.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from appliance.pki.errors import NameNotPermitted, PkiError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EVERYTHING = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


@dataclass(frozen=True)
class Constraints:
    """The permitted (and excluded) DNS and IP subtrees of a CA certificate."""

    dns: tuple[str, ...] = ()
    ips: tuple[IPNetwork, ...] = ()
    excluded_ips: tuple[IPNetwork, ...] = ()

    def describe(self) -> str:
        """Return the constraints as one line people can read."""
        parts = [f"DNS: {', '.join(self.dns) or 'none'}", f"IP: {', '.join(map(str, self.ips)) or 'none'}"]
        return "; ".join(parts)


def dns_name(text: str) -> str:
    """Return a DNS name in canonical form (lower case, no trailing dot), or refuse it saying why."""
    name = text.strip().lower().rstrip(".")
    if "*" in name:
        raise PkiError(f"{text!r}: wildcard names are not issued; name each host")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise PkiError(f"{text!r} is not a DNS name (letters, digits and '-' in dot-separated labels)")
    return name


def ip_network(text: str) -> IPNetwork:
    """Return an address or network as a network (an address is its /32 or /128)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise PkiError(f"{text!r} is not an IP address or network (e.g. 192.168.1.0/24, 10.8.0.2)") from None


def split_names(names: Iterable[str]) -> tuple[list[str], list[IPAddress]]:
    """Sort certificate names into DNS names and IP addresses, refusing duplicates and malformed names."""
    dns: list[str] = []
    ips: list[IPAddress] = []
    for text in names:
        try:
            ip = ipaddress.ip_address(text.strip())
        except ValueError:
            name = dns_name(text)
            if name not in dns:
                dns.append(name)
        else:
            if ip not in ips:
                ips.append(ip)
    if not dns and not ips:
        raise PkiError("a certificate needs at least one name (--name host.example.org or --name 192.0.2.10)")
    return dns, ips


def build(dns: Iterable[str], networks: Iterable[str | IPNetwork]) -> x509.NameConstraints:
    """Return the NameConstraints extension value permitting exactly these names."""
    permitted_dns = list(dict.fromkeys(dns_name(d) for d in dns))
    if not permitted_dns:
        raise PkiError("an intermediate needs at least one permitted DNS name (--dns host.example.org)")
    permitted_ips = list(dict.fromkeys(n if not isinstance(n, str) else ip_network(n) for n in networks))
    permitted: list[x509.GeneralName] = [x509.DNSName(d) for d in permitted_dns]
    permitted += [x509.IPAddress(n) for n in permitted_ips]
    excluded = [] if permitted_ips else [x509.IPAddress(n) for n in _EVERYTHING]
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded or None)


def of(cert: x509.Certificate) -> Constraints | None:
    """Return the certificate's name constraints, or None if it has none."""
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    permitted = nc.permitted_subtrees or []
    excluded = nc.excluded_subtrees or []
    return Constraints(
        dns=tuple(g.value for g in permitted if isinstance(g, x509.DNSName)),
        ips=tuple(g.value for g in permitted if isinstance(g, x509.IPAddress)),
        excluded_ips=tuple(g.value for g in excluded if isinstance(g, x509.IPAddress)),
    )


def check(dns: Iterable[str], ips: Iterable[IPAddress], constraints: Constraints) -> None:
    """Refuse the names that the constraints do not permit, naming each and the constraints."""
    outside = [d for d in dns if not _dns_permitted(d, constraints.dns)]
    outside += [str(ip) for ip in ips if not _ip_permitted(ip, constraints)]
    if outside:
        raise NameNotPermitted(outside, constraints.describe())


def _dns_permitted(name: str, permitted: tuple[str, ...]) -> bool:
    if not permitted:
        return True
    for base in permitted:
        base = base.lower()
        if base.startswith("."):
            if name.endswith(base):
                return True
        elif name == base or name.endswith("." + base):
            return True
    return False


def _ip_permitted(ip: IPAddress, constraints: Constraints) -> bool:
    if any(ip.version == n.version and ip in n for n in constraints.excluded_ips):
        return False
    if not constraints.ips:
        return True
    return any(ip.version == n.version and ip in n for n in constraints.ips)
