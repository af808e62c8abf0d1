# SPDX-License-Identifier: GPL-3.0-or-later
"""WireGuard health per peer (appliance.vpn.health), when a tunnel is configured."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from appliance.vpn import health, model

log = logging.getLogger(__name__)

StatusFunction = Callable[[str, Mapping[str, str]], dict[str, dict[str, Any]]]


def tunnel_from_config(cfg: Mapping[str, Any], config_path: Path | None) -> tuple[str, dict[str, str]] | None:
    """Return the tunnel's interface and peer names by public key, or None when no tunnel is configured."""
    data, base = dict(cfg.get("vpn") or {}), (config_path or model.DEFAULT_STATE_PATH).parent
    if not data and model.DEFAULT_STATE_PATH.is_file():
        data, base = model.read_file(model.DEFAULT_STATE_PATH), model.DEFAULT_STATE_PATH.parent
    if not data:
        return None
    ifname = str(data.get("interface", "wg0"))
    try:
        names = model.names(model.parse(data, base, "vpn").peers)
    except Exception as exc:
        # A broken state file (of any shape) must not stop the exporter or hide the live tunnel's
        # health; peers are then shown by public key.
        log.warning("cannot read the tunnel's peer names (%s); reporting peers by public key", exc)
        names = {}
    return ifname, names


class WireGuardSource:
    """Report the interface and, per peer, handshake age, session state and bytes."""

    name = "wireguard"

    def __init__(
        self,
        ifname: str,
        names: Mapping[str, str],
        status: StatusFunction = health.status,
        sys_class_net: Path = Path("/sys/class/net"),
    ):
        self.ifname = ifname
        self.names = dict(names)
        self.status = status
        self.sys_class_net = sys_class_net

    def collect(self) -> Iterator[Metric]:
        """Yield the tunnel's metrics; `wg show` needs CAP_NET_ADMIN, so without it this source fails."""
        present = (self.sys_class_net / self.ifname).exists()
        interface = GaugeMetricFamily(
            "appliance_wireguard_interface_up", "1 if the WireGuard interface exists.", labels=["interface"]
        )
        interface.add_metric([self.ifname], int(present))
        yield interface
        if not present:
            return
        yield from self._peers(self.status(self.ifname, self.names))

    def _peers(self, peers: dict[str, dict[str, Any]]) -> Iterator[Metric]:
        labels = ["interface", "peer", "public_key"]
        age = GaugeMetricFamily(
            "appliance_wireguard_handshake_age_seconds",
            "Seconds since the peer's latest handshake (absent if none ever completed).",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "appliance_wireguard_peer_up", "1 if the peer has a live session (handshake within 180 s).", labels=labels
        )
        received = CounterMetricFamily(
            "appliance_wireguard_received_bytes", "Bytes received from the peer.", labels=labels
        )
        sent = CounterMetricFamily("appliance_wireguard_sent_bytes", "Bytes sent to the peer.", labels=labels)
        for key, peer in sorted(peers.items()):
            values = [self.ifname, peer.get("name") or "", key]
            if peer["handshake_age"] is not None:
                age.add_metric(values, peer["handshake_age"])
            up.add_metric(values, int(peer["state"] == "up"))
            received.add_metric(values, peer["rx_bytes"])
            sent.add_metric(values, peer["tx_bytes"])
        yield from (age, up, received, sent)
