# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a rendered FreeSWITCH configuration tree before anything points at it.

FreeSWITCH reads `freeswitch.xml` through a line-based preprocessor (includes, `set`),
then parses the result. `check` does the same, so it judges the document FreeSWITCH
would load, and maps every element back to the file and line it came from. It refuses
a tree that FreeSWITCH could not parse or that would open a hole: default or weak
passwords, an event socket off loopback, a profile that takes unauthenticated calls
without an ACL, a user without a password, a dialplan bridging to a missing gateway.
"""

from __future__ import annotations

import glob
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from appliance.model.validate import WEAK_PASSWORDS

# Defaults FreeSWITCH ships with or scanners try first, plus the model's own list.
WEAK = frozenset({*WEAK_PASSWORDS, "cluecon", "1234", "0000", "1111", "freeswitch", "changeme", "default"})
# Variables FreeSWITCH sets itself before the preprocessor runs.
BUILTIN_VARS = frozenset(
    {
        "base_dir", "recordings_dir", "sound_prefix", "sounds_dir", "conf_dir", "log_dir", "run_dir",
        "db_dir", "mod_dir", "htdocs_dir", "script_dir", "temp_dir", "grammar_dir", "fonts_dir",
        "images_dir", "certs_dir", "storage_dir", "cache_dir", "data_dir", "localstate_dir",
        "hostname", "local_ip_v4", "local_mask_v4", "local_ip_v6", "switch_serial", "core_uuid",
    }
)  # fmt: skip
_DIRECTIVE_RE = re.compile(r'<X-PRE-PROCESS\s+cmd="(?P<cmd>[^"]*)"\s+data="(?P<data>[^"]*)"\s*/>', re.IGNORECASE)
_VAR_RE = re.compile(r"\$\$\{([^}]*)\}")
_GATEWAY_REF_RE = re.compile(r"sofia/gateway/([^/|,{}\[\]\s]+)/")
_PASSWORD_NAMES = frozenset({"password", "vm-password", "reverse-auth-pass"})


class ConfigError(Exception):
    """A configuration FreeSWITCH must not load; `problems` lists every reason, each naming its file."""

    def __init__(self, problems: Iterable[str]):
        self.problems = tuple(problems)
        super().__init__(
            f"FreeSWITCH configuration refused ({len(self.problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )


def check(tree: Path) -> None:
    """Raise ConfigError listing every problem in the configuration tree; return if there is none."""
    tree = Path(tree)
    problems: list[str] = []
    files = sorted(p for p in tree.rglob("*.xml") if p.is_file())
    if not (tree / "freeswitch.xml").is_file():
        problems.append(f"freeswitch.xml: missing from {tree}")
    for path in files:
        problems += _check_file(tree, path)
    if (tree / "freeswitch.xml").is_file():
        document = _Preprocessor(tree).run()
        problems += document.problems
        if document.root is not None:
            problems += _check_document(document)
    if problems:
        raise ConfigError(problems)


def _check_file(tree: Path, path: Path) -> Iterator[str]:
    """Yield what is wrong with one file on its own: XML syntax, secrets, preprocessor traps."""
    rel = path.relative_to(tree).as_posix()
    text = path.read_text(encoding="utf-8", errors="replace")
    if "cluecon" in text.lower():
        yield f"{rel}: mentions ClueCon, FreeSWITCH's well-known default password"
    if "default_password" in text:
        yield f"{rel}: uses the default_password variable; every user needs its own password"
    for n, line in enumerate(text.splitlines(), 1):
        if "x-pre-process" in line.lower() and not _DIRECTIVE_RE.search(line):
            yield f"{rel}:{n}: mentions the preprocessor but is no directive; FreeSWITCH drops the line"
        stripped = line.strip()
        if ("<include>" in line or "</include>" in line) and stripped not in ("<include>", "</include>"):
            yield f"{rel}:{n}: <include> must be alone on its line; FreeSWITCH drops the whole line"
        if "<?" in line and not (n == 1 and stripped.startswith("<?xml") and stripped.endswith("?>")):
            yield f"{rel}:{n}: FreeSWITCH drops every line containing '<?' except an XML declaration"
    try:
        root = etree.fromstring(text.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:
        yield f"{rel}: not well-formed XML: {exc}"
        return
    for element in root.iter("param", "variable"):
        name = (element.get("name") or "").lower()
        value = element.get("value")
        if name in _PASSWORD_NAMES and value is not None and value.strip().lower() in WEAK:
            yield f"{rel}:{element.sourceline}: {name} {value!r} is a default or well-known weak password"


def _parser(*, recover: bool = False) -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, recover=recover)


@dataclass
class _Document:
    root: etree._Element | None = None
    origins: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def where(self, element: etree._Element) -> str:
        """Return 'file:line' for an element of the assembled document."""
        line = element.sourceline or 0
        if 0 < line <= len(self.origins):
            rel, n = self.origins[line - 1]
            return f"{rel}:{n}"
        return "freeswitch.xml"


class _Preprocessor:
    """Expand the tree the way FreeSWITCH's preprocessor does (switch_xml.c), line by line."""

    def __init__(self, tree: Path):
        self.tree = tree
        self.variables: dict[str, str] = {}
        self.lines: list[str] = []
        self.doc = _Document()

    def run(self) -> _Document:
        self._expand(self.tree / "freeswitch.xml", depth=0)
        text = "\n".join(self.lines)
        try:
            self.doc.root = etree.fromstring(text.encode("utf-8"), _parser())
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or 0
            where = (
                "{}:{}".format(*self.doc.origins[line - 1]) if 0 < line <= len(self.doc.origins) else "freeswitch.xml"
            )
            self.doc.problems.append(
                f"{where}: the document assembled from freeswitch.xml is not well-formed: {exc.msg}"
            )
            # Keep checking what can be recovered, so one typo does not hide an open event socket.
            self.doc.root = etree.fromstring(text.encode("utf-8"), _parser(recover=True))
        return self.doc

    def _expand(self, path: Path, depth: int) -> None:
        rel = self._rel(path)
        if depth > 100:
            self.doc.problems.append(f"{rel}: includes nest more than 100 deep (an include loop?)")
            return
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, raw in enumerate(text.splitlines(), 1):
            line = self._substitute(raw, f"{rel}:{n}")
            # FreeSWITCH skips these lines whole, so a validator can see a rooted document.
            if "<include>" in line or "</include>" in line or "<?" in line:
                continue
            if "x-pre-process" in line.lower():
                self._directive(path, rel, n, line, depth)
                continue
            if "<!--#" in line:
                self.doc.problems.append(f"{rel}:{n}: '<!--#' preprocessor comments are not supported by the check")
                continue
            self.lines.append(line)
            self.doc.origins.append((rel, n))

    def _directive(self, path: Path, rel: str, n: int, line: str, depth: int) -> None:
        match = _DIRECTIVE_RE.search(line)
        if not match:
            return  # already reported per file: FreeSWITCH drops the line
        cmd, data = match["cmd"].lower(), match["data"]
        if cmd == "set":
            name, _, value = data.partition("=")
            self.variables[name.strip()] = value.strip()
        elif cmd == "include":
            self._include(path, rel, n, data, depth)
        else:
            # exec, exec-set, env-set, stun-set: run programs or depend on the environment.
            self.doc.problems.append(f"{rel}:{n}: preprocessor command {cmd!r} is not allowed")

    def _include(self, path: Path, rel: str, n: int, pattern: str, depth: int) -> None:
        target = Path(pattern) if Path(pattern).is_absolute() else path.parent / pattern
        for match in sorted(glob.glob(str(target))):
            included = Path(match)
            if not self._inside(included):
                self.doc.problems.append(f"{rel}:{n}: includes {match}, outside the configuration tree")
                continue
            self._check_fragment(included, f"{rel}:{n}")
            self._expand(included, depth + 1)

    def _check_fragment(self, path: Path, by: str) -> None:
        """Report an include target that does not expand to a well-formed fragment."""
        kept = [
            line
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
            if not ("<include>" in line or "</include>" in line or "<?" in line or "x-pre-process" in line.lower())
        ]
        try:
            etree.fromstring(("<fragment>\n" + "\n".join(kept) + "\n</fragment>").encode("utf-8"), _parser())
        except etree.XMLSyntaxError as exc:
            self.doc.problems.append(
                f"{self._rel(path)}: included by {by} but not a well-formed XML fragment: {exc.msg}"
            )

    def _substitute(self, line: str, where: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match[1]
            if name in self.variables:
                return self.variables[name]
            if name not in BUILTIN_VARS:
                self.doc.problems.append(f"{where}: $${{{name}}} is never set; FreeSWITCH would put nothing there")
            return f"/{name}"  # a placeholder path, enough to keep checking

        return _VAR_RE.sub(value, line)

    def _inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.tree.resolve())
        except ValueError:
            return False
        return True

    def _rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.tree.resolve()).as_posix()
        except ValueError:
            return str(path)


def _check_document(doc: _Document) -> Iterator[str]:
    root = doc.root
    assert root is not None
    yield from _check_event_socket(doc, root)
    yield from _check_profiles(doc, root)
    yield from _check_gateways(doc, root)
    yield from _check_users(doc, root)


def _check_event_socket(doc: _Document, root: etree._Element) -> Iterator[str]:
    configs = root.xpath('section[@name="configuration"]/configuration[@name="event_socket.conf"]')
    modules = root.xpath('section[@name="configuration"]/configuration[@name="modules.conf"]//load/@module')
    if not configs and "mod_event_socket" in modules:
        yield "autoload_configs: mod_event_socket is loaded without event_socket.conf (it would use ClueCon)"
    for config in configs:
        params = {p.get("name"): p for p in config.iter("param")}
        listen = params.get("listen-ip")
        if listen is None:
            yield f"{doc.where(config)}: event socket has no listen-ip; set 127.0.0.1 explicitly"
        elif not _is_loopback(listen.get("value", "")):
            yield f"{doc.where(listen)}: event socket listen-ip {listen.get('value')!r} is not loopback"
        password = params.get("password")
        if password is None or not password.get("value"):
            where = doc.where(password if password is not None else config)
            yield f"{where}: event socket has no password (mod_event_socket would use ClueCon)"


def _check_profiles(doc: _Document, root: etree._Element) -> Iterator[str]:
    acls = {
        lst.get("name"): lst.get("default", "deny")
        for lst in root.xpath('section/configuration[@name="acl.conf"]/network-lists/list')
    }
    for profile in root.xpath('section/configuration[@name="sofia.conf"]/profiles/profile'):
        name = profile.get("name")
        settings = {p.get("name"): p.get("value", "") for p in profile.xpath("settings/param")}
        for blind in ("accept-blind-reg", "accept-blind-auth"):
            if _true(settings.get(blind, "false")):
                yield f"{doc.where(profile)}: profile {name} has {blind} enabled: anyone may register or call"
        if _true(settings.get("auth-calls", "false")):
            continue
        acl = settings.get("apply-inbound-acl", "")
        if not acl:
            yield f"{doc.where(profile)}: profile {name} takes calls without authentication or an ACL"
        elif acl not in acls and not acl.endswith(".auto"):
            yield f"{doc.where(profile)}: profile {name} applies ACL {acl!r}, which acl.conf does not define"
        elif acls.get(acl, "deny") != "deny":
            yield f"{doc.where(profile)}: profile {name} applies ACL {acl!r}, which allows by default"


def _check_gateways(doc: _Document, root: etree._Element) -> Iterator[str]:
    gateways = set()
    for gateway in root.xpath('section/configuration[@name="sofia.conf"]/profiles/profile/gateways/gateway'):
        name = gateway.get("name", "")
        gateways.add(name)
        params = {p.get("name"): p.get("value", "") for p in gateway.iter("param")}
        # mod_sofia registers unless told otherwise, and skips a registering gateway without both.
        if _true(params.get("register", "true")) and not (params.get("username") and params.get("password")):
            yield f"{doc.where(gateway)}: gateway {name} registers but lacks a username or password (skipped)"
    for action in root.xpath('section[@name="dialplan"]//*[self::action or self::anti-action][@application="bridge"]'):
        for ref in _GATEWAY_REF_RE.findall(action.get("data", "")):
            if ref not in gateways:
                yield f"{doc.where(action)}: bridges to gateway {ref!r}, which no SIP profile defines"


def _check_users(doc: _Document, root: etree._Element) -> Iterator[str]:
    for user in root.xpath('section[@name="directory"]//user'):
        if user.get("type") == "pointer":
            continue
        uid = user.get("id", "")
        params = {p.get("name"): p.get("value", "") for p in user.xpath("params/param")}
        password = params.get("password", "")
        if not password and not params.get("a1-hash"):
            # mod_sofia lets a user without a password in without a challenge.
            yield f"{doc.where(user)}: user {uid!r} has no password"
        elif password and password.lower() == uid.lower():
            yield f"{doc.where(user)}: user {uid!r} has its own id as password"


def _is_loopback(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def _true(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "on", "1", "enabled", "active", "allow")
