# SPDX-License-Identifier: GPL-3.0-or-later
"""The metrics daemon: `appliance daemon metrics` serves /metrics for the fleet hub's Prometheus.

It listens on the WireGuard tunnel address on an appliance (127.0.0.1 in development), keeps
serving while FreeSWITCH is down (`appliance_freeswitch_up 0`) and reconnects by itself.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from appliance import config as configuration
from appliance.callcontrol.esl import EslClient, EslError, read_password
from appliance.lifecycle import configure_logging, stop_on_signals
from appliance.metrics import settings
from appliance.metrics.backlog import BacklogSource
from appliance.metrics.calls import CallStats
from appliance.metrics.certificates import CertificateSource
from appliance.metrics.monitor import FreeSwitchCollector, FreeSwitchMonitor, rtt_histogram
from appliance.metrics.scrape import ScrapeCollector
from appliance.metrics.storage import StorageSource
from appliance.metrics.wireguard import WireGuardSource, tunnel_from_config

log = logging.getLogger(__name__)

BIND_RETRY_S = 2.0


@dataclass(frozen=True)
class Options:
    """Everything the exporter needs, resolved from the configuration and the command line."""

    listen_address: str
    port: int
    poll_seconds: float
    esl_host: str
    esl_port: int
    esl_password_file: Path
    spool_dir: Path
    freeswitch_cdr_dir: Path | None
    pki_dir: Path
    data_mount: str
    storage_marker: Path
    wireguard: tuple[str, dict[str, str]] | None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line; every option overrides the layered configuration."""
    parser = argparse.ArgumentParser(prog="appliance daemon metrics", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, help="configuration file (default: $APPLIANCE_CONFIG or /etc/appliance/config.yml)"
    )
    parser.add_argument("--listen", help="address to bind, or 'tunnel' (metrics.listen_address)")
    parser.add_argument("--port", type=int, help="TCP port (metrics.port)")
    parser.add_argument("--poll-seconds", type=float, help="how often FreeSWITCH is polled (metrics.poll_seconds)")
    parser.add_argument("--esl-host")
    parser.add_argument("--esl-port", type=int)
    parser.add_argument("--esl-password-file", type=Path)
    parser.add_argument("--spool-dir", type=Path, help="the listener's CDR spool (cdr.spool_dir)")
    parser.add_argument("--freeswitch-cdr-dir", help="FreeSWITCH's CDR files (cdr.freeswitch_dir; '' to skip)")
    parser.add_argument("--pki-dir", type=Path, help="the appliance CA's directory (pki.dir)")
    parser.add_argument("--data-mount", help="the data volume's mount point (metrics.data_mount)")
    parser.add_argument("--storage-marker", type=Path, help="the storage mode marker (metrics.storage_marker)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def options(args: argparse.Namespace, cfg: dict[str, Any]) -> Options:
    """Resolve the options: command line first, then the configuration, then the defaults."""
    metrics, fs, cdr = settings.section(cfg), cfg["freeswitch"], cfg["cdr"]

    def pick(value: Any, fallback: Any) -> Any:
        return fallback if value is None else value

    fs_cdr = pick(args.freeswitch_cdr_dir, cdr.get("freeswitch_dir", ""))
    return Options(
        listen_address=settings.listen_address(pick(args.listen, metrics["listen_address"]), cfg),
        port=int(pick(args.port, metrics["port"])),
        poll_seconds=float(pick(args.poll_seconds, metrics["poll_seconds"])),
        esl_host=pick(args.esl_host, fs["esl_host"]),
        esl_port=int(pick(args.esl_port, fs["esl_port"])),
        esl_password_file=Path(pick(args.esl_password_file, fs["esl_password_file"])),
        spool_dir=Path(pick(args.spool_dir, cdr["spool_dir"])),
        freeswitch_cdr_dir=Path(fs_cdr) if fs_cdr else None,
        pki_dir=Path(pick(args.pki_dir, cfg["pki"]["dir"])),
        data_mount=str(pick(args.data_mount, metrics["data_mount"])),
        storage_marker=Path(pick(args.storage_marker, metrics["storage_marker"])),
        wireguard=tunnel_from_config(cfg, args.config),
    )


class _PasswordUnreadable:
    """Stands in for a client when the password cannot be read, so run_forever retries and logs it."""

    def __init__(self, path: Path, error: Exception):
        self.message = f"cannot read the event-socket password from {path}: {error}"

    def connect(self) -> None:
        raise EslError(self.message)

    def close(self) -> None:
        """Nothing to close."""


def client_factory(opts: Options):
    """Return a factory of event-socket clients that reads the password afresh for each connection."""

    def make() -> EslClient:
        # Read each time: a rotated password is picked up at the next reconnect, and a missing
        # file (first boot not finished) is retried instead of ending the daemon.
        try:
            password = read_password(opts.esl_password_file)
        except (OSError, ValueError) as exc:
            return _PasswordUnreadable(opts.esl_password_file, exc)  # type: ignore[return-value]
        return EslClient(opts.esl_host, opts.esl_port, password)

    return make


def build(opts: Options) -> tuple[CollectorRegistry, FreeSwitchMonitor]:
    """Return the registry with every collector, and the FreeSWITCH monitor that feeds some of them."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    calls = CallStats()
    registry.register(calls)
    monitor = FreeSwitchMonitor(client_factory(opts), calls, rtt_histogram(registry), interval=opts.poll_seconds)
    registry.register(FreeSwitchCollector(monitor))
    sources = [
        BacklogSource(opts.spool_dir, opts.freeswitch_cdr_dir),
        StorageSource(opts.data_mount, opts.storage_marker),
        CertificateSource(opts.pki_dir),
    ]
    if opts.wireguard is not None:
        sources.append(WireGuardSource(*opts.wireguard))
    registry.register(ScrapeCollector(sources))
    return registry, monitor


class HttpEndpoint:
    """prometheus-client's HTTP server, bound as soon as the address exists (the tunnel may come up later)."""

    def __init__(self, address: str, port: int, registry: CollectorRegistry):
        self.address = address
        self.port = port
        self.registry = registry
        self.server = None
        self.bound = gevent.event.Event()

    def serve(self, stop: gevent.event.Event) -> None:
        """Bind, retrying every few seconds until it works or stop is set."""
        warned = False
        while not stop.is_set():
            try:
                # Native threads, not gevent: a slow collector (wg, a large spool) never stalls the event socket.
                self.server, _ = start_http_server(self.port, addr=self.address, registry=self.registry)
            except OSError as exc:
                if not warned:
                    log.warning("cannot listen on %s port %s (%s); retrying", self.address, self.port, exc)
                    warned = True
                stop.wait(BIND_RETRY_S)
                continue
            log.info("serving metrics on http://%s:%s/metrics", self.address, self.server.server_port)
            self.bound.set()
            return

    def close(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def serve(opts: Options, stop: gevent.event.Event) -> FreeSwitchMonitor:
    """Serve metrics until stop is set; return the monitor (for its counters)."""
    registry, monitor = build(opts)
    endpoint = HttpEndpoint(opts.listen_address, opts.port, registry)
    binder = gevent.spawn(endpoint.serve, stop)
    log.info("watching FreeSWITCH at %s:%s every %.1fs", opts.esl_host, opts.esl_port, opts.poll_seconds)
    try:
        monitor.run(stop)
    finally:
        binder.kill()
        endpoint.close()
    return monitor


def main(argv: list[str] | None = None) -> int:
    """Entry point of the metrics daemon."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    try:
        opts = options(args, configuration.load(args.config))
    except (configuration.ConfigError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    with stop_on_signals() as stop:
        monitor = serve(opts, stop)
    log.info("stopped; %d polls of FreeSWITCH, %d calls counted this run", monitor.polls, monitor.calls.total())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
