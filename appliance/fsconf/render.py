# SPDX-License-Identifier: GPL-3.0-or-later
"""Render a FreeSWITCH configuration directory from a model Snapshot.

Templates live in `freeswitch-conf/` and mirror the destination layout. A template whose
file name starts with `_` is a partial: `_header.j2` is included by every other one, and
the per-object templates (one gateway, user, extension, route or DID per file) are
rendered once per object by `render`, under a name derived from the object.

The output is not checked here; `appliance.fsconf.check.check` does that, and `deploy`
calls it before anything points at the new tree.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from appliance.addresses import is_ip, is_network
from appliance.fsconf import calls as pbx_calls
from appliance.fsconf import contacts as contacts_for
from appliance.fsconf import menus_render
from appliance.fsconf.check import ConfigError
from appliance.fsconf.contacts import SRTP_SUITES
from appliance.model import Extension, OutboundRoute, Snapshot, Trunk, destinations, media
from appliance.model import patterns as dialpatterns

log = logging.getLogger(__name__)

INSTALLED_TEMPLATES = Path("/usr/share/appliance/freeswitch-conf")
FILE_MODE = 0o640  # the tree holds SIP and event-socket passwords
DIR_MODE = 0o750

# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are all strong and
# are configured separately by OpenSSL).
TLS_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    )
)

# Rings every registration of the dialled user (as FreeSWITCH's vanilla directory does,
# without the verto endpoint the appliance does not load). local_var_clobber: a leg's own [variables]
# win over the dial-vars (without it FreeSWITCH sets the {} ones last, so a TLS device's SRTP-only leg
# would be offered plain RTP again: switch_ivr_originate.c).
DIAL_PREFIX = (
    "{^^:local_var_clobber=true:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}"
)
OWN_CONTACTS = "${sofia_contact(*/${dialed_user}@${dialed_domain})}"

# A withheld caller ID: anonymous From (RFC 3323), the real number in a screened
# P-Asserted-Identity (sip_cid_type=pid plus the "screen" flag) with "Privacy: id"
# (hide_number). Set per call on the B-leg, because sofia reads them from the outgoing
# channel, and the gateway's from-domain keeps the P-Asserted-Identity host real.
WITHHELD_VARS = (
    "{sip_cid_type=pid,origination_privacy=screen+hide_name+hide_number,"
    "sip_from_uri=sip:anonymous@anonymous.invalid,sip_from_display=Anonymous}"
)

# Video between phones: mod_h26x passes H264 through; VP8 needs no module to be relayed.
VIDEO_CODECS = ("H264", "VP8")

_EXTENSION_RE = re.compile(r"^\d+$")
_DID_RE = re.compile(r"^\+?\d+$")
# mod_sofia ignores a gateway whose name does not match ^[\w.-]+$.
_GATEWAY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SIP_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_CODECS_RE = re.compile(r"^[A-Za-z0-9@._-]+(,[A-Za-z0-9@._-]+)*$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]*$")
# FreeSWITCH expands ${...} (including API calls such as ${system(...)}) in dialplan data
# and directory values, and $1 in actions of a regex condition; its preprocessor drops
# any line mentioning the preprocessor tag. Model text must carry none of these.
_EXPANSION_RE = re.compile(r"\$[{\d$]")
_VARIABLE_RE = re.compile(r"\$[{$]")
_CREDENTIAL_FIELDS = frozenset({"sip_password", "password", "username", "voicemail_pin"})
_PREPROCESSOR_RE = re.compile(r"x-pre-process|<!--#|<include>|</include>|<\?", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Runtime:
    """Machine-local facts the configuration needs that are not stored in the database."""

    esl_password: str = field(repr=False)  # keep it out of logs and tracebacks
    esl_port: int = 8021
    outbound_socket_port: int = 8084
    cert_dir: Path = Path("/var/lib/appliance/tls")
    sounds_dir: Path = Path("/usr/share/freeswitch/sounds")
    recordings_dir: Path = Path("/var/lib/appliance/recordings")
    # FreeSWITCH writes each A-leg's CDR here itself, so no call is lost while a daemon is down.
    cdr_dir: Path = Path("/var/spool/appliance/fs-cdr")
    # FreeSWITCH records into RAM (tmpfs) only; the recorder daemon encrypts each finished file
    # to the owner's key into recordings_dir and unlinks the plaintext (docs/recording.md).
    recording_staging_dir: Path = Path("/run/appliance/recordings")
    # Voicemail messages, greetings and their index, on the encrypted data volume (docs/pbx-features.md).
    voicemail_dir: Path = Path("/var/lib/appliance/voicemail")
    # The SIP profiles' and the core's SQLite databases (registrations, live channels): state the phones
    # rebuild, written several times per call, kept in RAM (tmpfs) rather than on the data volume.
    # None leaves them in FreeSWITCH's db directory (-db).
    volatile_db_dir: Path | None = None

    def __post_init__(self) -> None:
        for name in self.path_fields():
            object.__setattr__(self, name, Path(getattr(self, name)))

    def path_fields(self) -> list[str]:
        """Return the names of the directories this runtime sets (volatile_db_dir only when it is set)."""
        names = ["cert_dir", "sounds_dir", "recordings_dir", "cdr_dir", "recording_staging_dir", "voicemail_dir"]
        return names + (["volatile_db_dir"] if self.volatile_db_dir is not None else [])


def default_templates() -> Path:
    """Return the template directory: the source tree's, else the installed one."""
    in_repo = Path(__file__).resolve().parents[2] / "freeswitch-conf"
    return in_repo if in_repo.is_dir() else INSTALLED_TEMPLATES


def render(snapshot: Snapshot, runtime: Runtime, dest: Path, templates: Path | None = None) -> None:
    """Render the complete configuration for snapshot into the new or empty directory dest."""
    problems = list(_unsafe_values(snapshot, runtime))
    if problems:
        raise ConfigError(problems)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        # Stale per-object files (a deleted trunk's gateway) must never survive a render.
        raise FileExistsError(f"{dest}: refusing to render into a non-empty directory")
    dest.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    env = _environment(Path(templates) if templates else default_templates())
    context = _context(snapshot, runtime)
    count = 0
    for template, rel, extra in _outputs(env, snapshot, context):
        _write(dest, rel, env.get_template(template).render(**context, **extra))
        count += 1
    log.info("rendered %d FreeSWITCH configuration files into %s", count, dest)


def _environment(templates: Path) -> Environment:
    if not (templates / "freeswitch.xml.j2").is_file():
        raise FileNotFoundError(f"{templates}: no freeswitch.xml.j2, not a FreeSWITCH template directory")
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=True,  # every template is XML: escape every value from the model
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["xml_comment"] = _comment_safe
    env.globals["multiset"] = multiset_data
    return env


# Separators for multiset, tried in order: the first that no value contains is used.
_MULTISET_SEPARATORS = "|~;!#"


def multiset_data(**variables: Any) -> str:
    """Return the data of one `multiset` action that sets every variable, in order; None values are left out.

    Inline or not, every executed application fires CHANNEL_EXECUTE and CHANNEL_EXECUTE_COMPLETE, each
    carrying all of the channel's variables: one multiset instead of a `set` per variable is most of
    what the extension dialplan cost FreeSWITCH per call over a plain bridge (docs/benchmarks.md).
    """
    items = [f"{name}={value}" for name, value in variables.items() if value is not None]
    for sep in _MULTISET_SEPARATORS:
        if not any(sep in item for item in items):
            return f"^^{sep}" + sep.join(items)
    raise ConfigError([f"multiset: every separator ({_MULTISET_SEPARATORS}) occurs in {items!r}"])


def _outputs(env: Environment, snapshot: Snapshot, context: dict[str, Any]) -> Iterator[tuple[str, str, dict]]:
    """Yield (template, destination path, extra context) for every file of the tree."""
    for name in sorted(env.list_templates(extensions=["j2"])):
        if not Path(name).name.startswith("_"):
            yield name, name.removesuffix(".j2"), {}
    for trunk in context["gateways"]:
        yield (
            "sip_profiles/external/_gateway.xml.j2",
            f"sip_profiles/external/{trunk['name']}.xml",
            {"trunk": trunk},
        )
    for user in context["users"]:
        yield "directory/default/_user.xml.j2", f"directory/default/{user['id']}.xml", {"user": user}
    for ext in snapshot.extensions:
        yield (
            "dialplan/default/_extension.xml.j2",
            f"dialplan/default/10_extension_{ext.number}.xml",
            {"ext": ext},
        )
    for index, route in enumerate(context["routes"], start=1):
        # The number prefix keeps FreeSWITCH's alphabetical include order = route order.
        rel = f"dialplan/default/50_route_{index:04d}_{_slug(route['name'])}.xml"
        yield "dialplan/default/_route.xml.j2", rel, {"route": route}
    for did in context["dids"]:
        yield "dialplan/public/_did.xml.j2", f"dialplan/public/{did['digits']}.xml", {"did": did}
    yield from pbx_calls.outputs(snapshot, context)
    yield from menus_render.outputs(context)  # IVR menus, ring groups, queues (docs/pbx-menus.md)


def _context(snapshot: Snapshot, runtime: Runtime) -> dict[str, Any]:
    # Each feature module adds its own keys (docs/pbx-features.md, docs/pbx-menus.md).
    return (
        pbx_calls.context(snapshot)
        | menus_render.context(snapshot)
        | {
            "site": snapshot.site,
            "runtime": runtime,
            "tls_ciphers": TLS_CIPHERS,
            "srtp_suites": ":".join(SRTP_SUITES),
            "srtp_suites_regex": "|".join(SRTP_SUITES),
            "external_tls": any(t.transport == "tls" for t in snapshot.trunks),
            "trunk_acl": _trunk_acl(snapshot.trunks),
            "gateways": [_gateway(t) for t in snapshot.trunks],
            "default_dial_string": DIAL_PREFIX + OWN_CONTACTS,
            "users": _users(snapshot),
            "routes": [_route(r) for r in sorted(snapshot.outbound_routes, key=lambda r: (r.priority, r.name))],
            # record_session's file: in the RAM staging directory, named by the A-leg (docs/recording.md).
            "recording_file": f"{runtime.recording_staging_dir}/${{uuid}}.wav",
            "internal_codecs": _with_video(snapshot.site.codecs),
            "dids": [
                {
                    **dataclasses.asdict(did),
                    "digits": did.number.lstrip("+"),
                    "transfer": destinations.transfer_data(did.destination_kind, did.destination),
                }
                for did in snapshot.inbound_numbers
            ],
        }
    )


def _with_video(codecs: str) -> str:
    """Return the codec list with the pass-through video codecs appended unless already listed."""
    listed = [c.strip() for c in codecs.split(",") if c.strip()]
    names = {c.split("@", 1)[0].upper() for c in listed}
    return ",".join(listed + [v for v in VIDEO_CODECS if v not in names])


def _trunk_acl(trunks: tuple[Trunk, ...]) -> list[dict[str, str]]:
    nodes: dict[str, str] = {}
    for trunk in trunks:
        networks = [ipaddress.ip_network(c, strict=False) for c in trunk.inbound_cidrs]
        if is_ip(trunk.host):
            networks.insert(0, ipaddress.ip_network(trunk.host))
        elif not networks:
            log.warning(
                "trunk %s is known by host name only and has no inbound_cidrs: "
                "calls from it will be refused by the trunks ACL",
                trunk.name,
            )
        for network in networks:
            nodes.setdefault(str(network), trunk.name)
    return [{"cidr": cidr, "trunk": name} for cidr, name in nodes.items()]


def _gateway(trunk: Trunk) -> dict[str, Any]:
    host = f"[{trunk.host}]" if ":" in trunk.host else trunk.host
    return {
        "name": trunk.name,
        "proxy": f"{host}:{trunk.port}",
        "realm": host,
        "transport": trunk.transport,
        "username": trunk.username,
        "password": trunk.password,
        "register": trunk.register,
        # Always set: it is also the host of the P-Asserted-Identity of withheld calls.
        "from_domain": trunk.from_domain or trunk.host,
    }


def _users(snapshot: Snapshot) -> list[dict[str, Any]]:
    users = []
    for ext in snapshot.extensions:
        contacts = contacts_for.legs(snapshot, ext.number, "${dialed_user}", "${dialed_domain}")
        users.append(
            {
                "id": ext.number,
                "password": ext.sip_password,
                "vm_password": ext.voicemail_pin,
                "dial_string": DIAL_PREFIX + ",".join(contacts),
                "variables": _user_variables(snapshot, ext),
            }
        )
    for dev in snapshot.devices:
        for line in dev.lines:
            ext = snapshot.extension(line.extension)
            assert ext is not None  # _unsafe_values refused dangling lines
            users.append(
                {
                    "id": line.sip_username,
                    "password": line.sip_password,
                    "vm_password": "",
                    "dial_string": "",
                    # Same variables as the extension: a call from this line is that extension's.
                    "variables": [*_user_variables(snapshot, ext), ("appliance_device", dev.name)],
                    "mwi_account": pbx_calls.mwi_account(snapshot, ext.number),
                }
            )
    return users


def _user_variables(snapshot: Snapshot, ext: Extension) -> list[tuple[str, str]]:
    return [
        ("user_context", "default"),
        ("effective_caller_id_name", ext.name),
        ("effective_caller_id_number", ext.number),
        ("appliance_extension", ext.number),
        ("appliance_cid_number", ext.caller_id_number or snapshot.site.company_number),
        ("appliance_outbound_allowed", "true" if ext.outbound_allowed else "false"),
        *_outside_call_overrides(ext),
        *_media_variables(ext),
    ]


def _media_variables(ext: Extension) -> list[tuple[str, str]]:
    """Return the extension's caller-ID presentation and recording mode, when not the defaults."""
    variables = []
    if ext.presentation:
        variables.append(("appliance_presentation", ext.presentation))
    if ext.recording != "off":
        variables.append(("appliance_recording", ext.recording))
    return variables


def _outside_call_overrides(ext: Extension) -> list[tuple[str, str]]:
    """Return the extension's own toll-fraud limits; without them the domain's site defaults apply."""
    overrides = []
    if ext.max_outside_calls:
        overrides.append(("appliance_max_outside_calls", str(ext.max_outside_calls)))
    if ext.outside_routes:
        overrides.append(("appliance_outside_routes", ext.outside_routes))
    return overrides


def _route(route: OutboundRoute) -> dict[str, Any]:
    legs = "|".join(f"sofia/gateway/{trunk}/{route.prepend}$1" for trunk in route.trunks)
    return {
        "name": route.name,
        "priority": route.priority,
        "trunks": route.trunks,
        "strip_digits": route.strip_digits,
        "presentation": route.presentation,
        "record_calls": route.record_calls,
        "patterns": [
            {"text": text, "regex": dialpatterns.parse(text).dial_regex(route.strip_digits)} for text in route.patterns
        ],
        "bridge": (WITHHELD_VARS if route.presentation == "withheld" else "") + legs,
        # One dialplan extension per effective presentation: the caller's own setting
        # (appliance_presentation from the directory) picks it (appliance.model.media).
        "variants": [
            {
                "presentation": effective,
                "settings_regex": "" if len(settings) == 4 else "^(" + "|".join(settings) + ")$",
                "bridge": (WITHHELD_VARS if effective == "withheld" else "") + legs,
            }
            for effective, settings in media.presentation_variants(route.presentation)
        ],
    }


def _unsafe_values(snapshot: Snapshot, runtime: Runtime) -> Iterator[str]:
    """Yield every model value this renderer cannot write safely (not policy: the model validates that)."""
    yield from _unsafe_text(snapshot)
    site = snapshot.site
    if not _HOST_RE.match(site.domain):
        yield f"site.domain: {site.domain!r} is not a host name"
    for name in ("lan_ip", "trunk_ip"):
        if not is_ip(getattr(site, name)):
            yield f"site.{name}: {getattr(site, name)!r} is not an IP address (FreeSWITCH binds to IPs)"
    if not _CODECS_RE.match(site.codecs):
        yield f"site.codecs: {site.codecs!r} is not a comma-separated codec list"
    yield from _unsafe_runtime(runtime)
    yield from _unsafe_names(snapshot)
    yield from _dangling(snapshot)
    yield from pbx_calls.unsafe_values(snapshot)


def _unsafe_text(snapshot: Snapshot) -> Iterator[str]:
    for where, value in _strings(snapshot, "snapshot"):
        # Credentials never reach a dialplan action, so only ${ and $$ matter for them.
        expansion = _VARIABLE_RE if where.rsplit(".", 1)[-1] in _CREDENTIAL_FIELDS else _EXPANSION_RE
        if expansion.search(value):
            yield f"{where}: {value!r} contains '$' before '{{', '$' or a digit: FreeSWITCH would expand it"
        if _PREPROCESSOR_RE.search(value):
            yield f"{where}: {value!r} contains text FreeSWITCH's preprocessor acts on"
        if _CONTROL_RE.search(value):
            yield f"{where}: {value!r} contains control characters"


def _strings(obj: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield where, obj
    elif isinstance(obj, tuple):
        for i, item in enumerate(obj):
            yield from _strings(item, f"{where}[{i}]")
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from _strings(getattr(obj, f.name), f"{where}.{f.name}")


def _unsafe_runtime(runtime: Runtime) -> Iterator[str]:
    if not runtime.esl_password:
        # mod_event_socket falls back to "ClueCon" when the password is empty.
        yield "runtime.esl_password: empty (FreeSWITCH would fall back to its well-known default)"
    elif _EXPANSION_RE.search(runtime.esl_password) or _CONTROL_RE.search(runtime.esl_password):
        yield "runtime.esl_password: contains '$' expansions or control characters"
    for name in ("esl_port", "outbound_socket_port"):
        if not 1 <= getattr(runtime, name) <= 65535:
            yield f"runtime.{name}: {getattr(runtime, name)} is not a port number"
    for name in runtime.path_fields():
        if not _PATH_RE.match(str(getattr(runtime, name))):
            yield f"runtime.{name}: {str(getattr(runtime, name))!r} must be a plain absolute path"


def _unsafe_names(snapshot: Snapshot) -> Iterator[str]:
    """Yield names that end up in file names, regexes or dial strings and are not plain."""
    ids: set[str] = set()
    for ext in snapshot.extensions:
        if not _EXTENSION_RE.match(ext.number):
            yield f"extension {ext.number!r}: number must be digits only"
        ids.add(ext.number)
    for dev in snapshot.devices:
        for line in dev.lines:
            if not _SIP_USER_RE.match(line.sip_username):
                yield f"device {dev.name} port {line.port}: sip_username {line.sip_username!r} is not plain"
            elif line.sip_username in ids:
                yield f"device {dev.name} port {line.port}: sip_username {line.sip_username!r} is taken"
            ids.add(line.sip_username)
    for trunk in snapshot.trunks:
        if not _GATEWAY_RE.match(trunk.name):
            yield f"trunk {trunk.name!r}: name must be letters, digits, '.', '_' or '-'"
        if not (is_ip(trunk.host) or _HOST_RE.match(trunk.host)):
            yield f"trunk {trunk.name}: host {trunk.host!r} is neither an IP address nor a host name"
        if trunk.from_domain and not _HOST_RE.match(trunk.from_domain):
            yield f"trunk {trunk.name}: from_domain {trunk.from_domain!r} is not a host name"
        if trunk.transport not in ("udp", "tcp", "tls"):
            yield f"trunk {trunk.name}: transport {trunk.transport!r} is not udp, tcp or tls"
        if trunk.register and not (trunk.username and trunk.password):
            # mod_sofia silently skips a registering gateway without both.
            yield f"trunk {trunk.name}: registration needs a username and a password"
        for cidr in trunk.inbound_cidrs:
            if not is_network(cidr):
                yield f"trunk {trunk.name}: inbound_cidrs {cidr!r} is not an address or network"
    dids: set[str] = set()
    for did in snapshot.inbound_numbers:
        if not _DID_RE.match(did.number):
            yield f"inbound number {did.number!r}: must be digits with an optional leading +"
        elif did.number.lstrip("+") in dids:
            yield f"inbound number {did.number}: listed twice (with and without '+')"
        dids.add(did.number.lstrip("+"))


def _dangling(snapshot: Snapshot) -> Iterator[str]:
    """Yield references to objects that do not exist."""
    for dev in snapshot.devices:
        for line in dev.lines:
            if snapshot.extension(line.extension) is None:
                yield f"device {dev.name} port {line.port}: extension {line.extension!r} does not exist"
    for did in snapshot.inbound_numbers:
        for _field, message in destinations.problems(snapshot, did.destination_kind, did.destination):
            yield f"inbound number {did.number}: {message}"
    for route in snapshot.outbound_routes:
        if not route.trunks:
            yield f"outbound route {route.name}: has no trunk"
        for name in route.trunks:
            if snapshot.trunk(name) is None:
                yield f"outbound route {route.name}: trunk {name!r} does not exist"
        if route.presentation not in ("extension", "company", "withheld"):
            yield f"outbound route {route.name}: presentation {route.presentation!r} is not supported"
        if not re.fullmatch(r"[0-9*#+]*", route.prepend):
            yield f"outbound route {route.name}: prepend {route.prepend!r} may only hold 0-9 * # +"
        for text in route.patterns:
            try:
                dialpatterns.parse(text)
            except dialpatterns.PatternError as exc:
                yield f"outbound route {route.name}: {exc}"


def _write(dest: Path, rel: str, text: str) -> None:
    path = dest / rel
    for parent in reversed(Path(rel).parents):
        if not (dest / parent).is_dir():
            (dest / parent).mkdir(mode=DIR_MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _comment_safe(value: Any) -> str:
    # "--" may not occur inside an XML comment.
    text = str(value)
    while "--" in text:
        text = text.replace("--", "- -")
    return text


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "route"
