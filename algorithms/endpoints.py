"""Which endpoints a model config may reach, checked when it is saved and on every connection.

A model endpoint is a URL a researcher types; the worker connects to it from inside the
operator's network. So: only http and https; never a cloud metadata or link-local address;
loopback, private and other non-public addresses only when the operator lists the host or its
network (STEPWISE_ENDPOINT_ALLOWED_HOSTS); public addresses unless the operator turns them off.
At save time the URL is checked as written; at connect time every address the host resolves
to is checked, and the connection goes to a checked address (a later DNS answer cannot swap
it; workers.backends.guarded). Redirects are not followed. Pure Python: the web process
checks on save with it, the worker on load and on connect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from algorithms.model_errors import PolicyViolation

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")
# Never reachable, whatever the operator lists: instance metadata services hand out cloud
# credentials, and link-local addresses are where they live.
BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this host": connecting to 0.0.0.0 reaches the loopback interface
        "169.254.0.0/16",  # IPv4 link-local, including 169.254.169.254 (AWS, GCP, Azure, ...)
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "::/128",
    )
)
BLOCKED_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)


class EndpointRefused(PolicyViolation):
    """The endpoint is not one the operator allows; trying again cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__("path_or_endpoint", message)


@dataclass(frozen=True)
class EndpointPolicy:
    allowed_names: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_public: bool = True

    @classmethod
    def from_entries(cls, entries: Iterable[str], *, allow_public: bool = True) -> EndpointPolicy:
        """Entries are host names (matched exactly, case-insensitively), IP addresses or
        networks in CIDR notation, e.g. `gpu-1.internal`, `127.0.0.1`, `10.0.0.0/8`."""
        names, networks = set(), []
        for entry in (e.strip().lower() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(networks), allow_public)

    def lists(self, host: str) -> bool:
        """Whether the operator named this host, or its address, explicitly."""
        host = _normal_host(host)
        if host in self.allowed_names:
            return True
        address = _literal_address(host)
        return address is not None and any(address in n for n in self.allowed_networks)

    def check_address(self, host: str, address: IPAddress) -> None:
        address = _unmapped(address)
        shown = host if host == str(address) else f"{host} ({address})"
        if any(address in network for network in BLOCKED_NETWORKS):
            raise EndpointRefused(
                f"endpoint host {shown} is a link-local or cloud metadata address; "
                "model endpoints may never reach it"
            )
        if any(address in network for network in self.allowed_networks):
            return
        if _normal_host(host) in self.allowed_names:
            return
        if address.is_global and not address.is_multicast:
            if self.allow_public:
                return
            raise EndpointRefused(
                f"endpoint host {shown} is not in STEPWISE_ENDPOINT_ALLOWED_HOSTS and public "
                "endpoints are turned off (STEPWISE_ENDPOINT_ALLOW_PUBLIC)"
            )
        raise EndpointRefused(
            f"endpoint host {shown} is a loopback, private or reserved address; an operator "
            "must list it in STEPWISE_ENDPOINT_ALLOWED_HOSTS"
        )

    def check_url(self, url: str) -> SplitResult:
        """The checks that need no name lookup: scheme, no credentials, a host that is not
        refused by name or as an address literal."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise EndpointRefused(f"endpoint {url!r} is not a valid URL: {error}") from None
        if parts.scheme not in SCHEMES:
            raise EndpointRefused(
                f"endpoint scheme {parts.scheme or '(none)'!r} is not allowed; use http or https, "
                "e.g. http://host:8000/v1"
            )
        if parts.username is not None or parts.password is not None:
            raise EndpointRefused(
                "endpoint URLs may not carry credentials; name an allowed variable in "
                'api_key_env instead, e.g. "api_key_env": "OPENAI_API_KEY"'
            )
        host = _normal_host(parts.hostname or "")
        if not host:
            raise EndpointRefused(f"endpoint {url!r} has no host")
        if host in BLOCKED_NAMES:
            raise EndpointRefused(
                f"endpoint host {host} is a cloud metadata service; model endpoints may never "
                "reach it"
            )
        address = _literal_address(host)
        if address is not None:
            self.check_address(host, address)
        del port  # read only to validate it
        return parts

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` resolves to, each checked; refused if any one is refused (a
        name must not pair an allowed address with a forbidden one)."""
        host = _normal_host(host)
        if host in BLOCKED_NAMES:
            raise EndpointRefused(f"endpoint host {host} is a cloud metadata service")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            # Not a refusal: a name that does not resolve now may resolve later.
            raise OSError(f"cannot resolve endpoint host {host}: {error}") from error
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        for address in addresses:
            self.check_address(host, address)
        return addresses


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, including the short and
    numeric IPv4 forms that resolvers accept (127.1, 2130706433, 0x7f.0.0.1)."""
    try:
        return _unmapped(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None
