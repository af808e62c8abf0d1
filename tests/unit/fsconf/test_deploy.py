# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy() swaps atomically, never points at a bad tree, rolls back when FreeSWITCH refuses."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.fsconf import ConfigError, DeployError, current_release, deploy, list_releases, rollback
from appliance.fsconf.render import default_templates

from .conftest import office

# The package exports the deploy() function under the module's name.
deploy_module = importlib.import_module("appliance.fsconf.deploy")
NAME_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{10}$")


class FakeFreeSWITCH:
    """Answer ESL api commands like FreeSWITCH does; reloadxml answers come from a script."""

    def __init__(self, *reloadxml_answers: str):
        self.reloadxml_answers = list(reloadxml_answers)
        self.commands: list[str] = []
        self.loaded: list[Path] = []
        self.root: Path | None = None

    def __call__(self, command: str) -> str:
        self.commands.append(command)
        if command == "reloadxml":
            if self.root is not None:
                self.loaded.append((self.root / "current").resolve())
            return self.reloadxml_answers.pop(0) if self.reloadxml_answers else "+OK [Success]\n"
        if command == "reloadacl":
            return "+OK acl reloaded\n"
        if " killgw " in command:
            return "+OK gateway marked for deletion.\n"
        if command.endswith(" rescan"):
            return "Reload XML [Success]\n+OK scan complete\n"
        return "Reload XML [Success]\nrestarting: " + command.split()[2] + "\n"


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "fsconf"


def test_deploy_creates_a_release_and_points_current_at_it(root, snapshot, runtime):
    release = deploy(snapshot, runtime, root)
    assert NAME_RE.match(release.name)
    assert release.path == root / "releases" / release.name
    link = root / "current"
    assert link.is_symlink()
    assert os.readlink(link) == f"releases/{release.name}"  # relative: the root can move
    assert (link / "freeswitch.xml").is_file()
    assert current_release(root) == release
    leftovers = [p.name for p in (root / "releases").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_second_deploy_swaps_current_and_keeps_the_old_release(root, snapshot, runtime):
    first = deploy(snapshot, runtime, root)
    second = deploy(office(ring_seconds=40), runtime, root)
    assert second.name > first.name
    assert current_release(root) == second
    assert [r.name for r in list_releases(root)] == [first.name, second.name]
    assert "call_timeout=40" in (root / "current/dialplan/default/10_extension_1001.xml").read_text()


def test_every_swap_rewrites_the_applied_stamp_in_place_for_watchers(root, snapshot, runtime):
    # systemd's PathChanged= follows `current` to the old release and misses the rename; the survival
    # copy's path unit watches this file being written and closed instead (same inode, rewritten).
    first = deploy(snapshot, runtime, root)
    stamp = root / "applied"
    assert stamp.read_text() == first.name + "\n"
    inode = stamp.stat().st_ino
    if os.geteuid() == 0:  # root's apply leaves the stamp to the folder's owner (the service user applies next)
        os.chown(root, 65534, 65534)
    second = deploy(office(ring_seconds=40), runtime, root)
    assert stamp.read_text() == second.name + "\n" and stamp.stat().st_ino == inode
    if os.geteuid() == 0:
        assert (stamp.stat().st_uid, stamp.stat().st_gid) == (65534, 65534)


def test_identical_content_gets_the_same_hash(root, snapshot, runtime):
    first = deploy(snapshot, runtime, root)
    second = deploy(snapshot, runtime, root)
    assert first.name != second.name
    assert first.name.split("-")[-1] == second.name.split("-")[-1]


def test_failed_check_never_touches_current(root, tmp_path, snapshot, runtime):
    good = deploy(snapshot, runtime, root)
    templates = tmp_path / "templates"
    shutil.copytree(default_templates(), templates)
    path = templates / "autoload_configs/event_socket.conf.xml.j2"
    path.write_text(path.read_text().replace('value="127.0.0.1"', 'value="0.0.0.0"'))
    with pytest.raises(ConfigError, match=r"listen-ip '0\.0\.0\.0'"):
        deploy(office(ring_seconds=40), runtime, root, templates=templates)
    assert current_release(root) == good
    assert [r.name for r in list_releases(root)] == [good.name]
    assert [p.name for p in (root / "releases").iterdir()] == [good.name]  # no temporary tree left


def test_refused_reloadxml_rolls_back_and_raises(root, snapshot, runtime):
    fs = FakeFreeSWITCH()
    fs.root = root
    good = deploy(snapshot, runtime, root, reload=fs)
    fs.commands.clear()
    fs.reloadxml_answers = ["-ERR Error: line 12: unclosed <extension>\n", "+OK [Success]\n"]
    with pytest.raises(DeployError) as info:
        deploy(office(ring_seconds=40), runtime, root, reload=fs)
    message = str(info.value)
    assert "FreeSWITCH refused the configuration" in message
    assert "unclosed <extension>" in message
    assert f"previous release {good.name} is still running" in message
    assert current_release(root) == good
    assert fs.commands == ["reloadxml", "reloadxml"]  # the refused tree, then the previous one again
    assert fs.loaded[-1] == good.path
    assert [r.name for r in list_releases(root)] == [good.name]  # the refused release is gone


def test_reloadxml_parse_error_reported_inside_ok_is_a_refusal(root, snapshot, runtime):
    # What FreeSWITCH 1.10.12 really answers when its parser rejects the new document.
    good = deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())
    fs = FakeFreeSWITCH("+OK [[error near line 568]: unexpected closing tag </parms>]\n\n")
    with pytest.raises(DeployError, match=r"refused .*unexpected closing tag </parms>"):
        deploy(office(ring_seconds=40), runtime, root, reload=fs)
    assert current_release(root) == good
    assert fs.commands == ["reloadxml", "reloadxml"]


def test_refused_first_deploy_leaves_no_current(root, snapshot, runtime):
    with pytest.raises(DeployError, match="no previous release exists"):
        deploy(snapshot, runtime, root, reload=FakeFreeSWITCH("-ERR nope\n"))
    assert current_release(root) is None
    assert list_releases(root) == []


def test_first_deploy_restarts_both_profiles(root, snapshot, runtime):
    fs = FakeFreeSWITCH()
    deploy(snapshot, runtime, root, reload=fs)
    assert fs.commands == ["reloadxml", "sofia profile internal restart", "sofia profile external restart"]


def test_dialplan_and_user_changes_only_rescan(root, snapshot, runtime):
    deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())
    fs = FakeFreeSWITCH()
    deploy(office(ring_seconds=40), runtime, root, reload=fs)
    assert fs.commands == ["reloadxml", "sofia profile internal rescan", "sofia profile external rescan"]


def test_removed_trunk_is_killed_before_rescan(root, snapshot, runtime):
    deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())
    without_b = dataclasses.replace(
        snapshot,
        trunks=snapshot.trunks[:1],
        outbound_routes=tuple(dataclasses.replace(r, trunks=("carrier-a",)) for r in snapshot.outbound_routes),
    )
    fs = FakeFreeSWITCH()
    deploy(without_b, runtime, root, reload=fs)
    assert fs.commands == [
        "reloadxml",
        "reloadacl",  # carrier-b's network left the trunks ACL
        "sofia profile external killgw carrier-b",
        "sofia profile internal rescan",
        "sofia profile external rescan",
    ]


def test_changed_trunk_is_killed_and_re_added(root, snapshot, runtime):
    deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())
    trunk_a = dataclasses.replace(snapshot.trunks[0], password="Nw5Rb8Tk2Xq7Lm4Vz")
    fs = FakeFreeSWITCH()
    deploy(dataclasses.replace(snapshot, trunks=(trunk_a, snapshot.trunks[1])), runtime, root, reload=fs)
    assert "sofia profile external killgw carrier-a" in fs.commands
    assert not any("killgw carrier-b" in c for c in fs.commands)
    assert fs.commands.index("sofia profile external killgw carrier-a") < fs.commands.index(
        "sofia profile external rescan"
    )


def test_profile_change_restarts_only_that_profile(root, snapshot, runtime):
    deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())
    fs = FakeFreeSWITCH()
    deploy(office(lan_ip="192.0.2.20"), runtime, root, reload=fs)
    assert fs.commands == ["reloadxml", "sofia profile internal restart", "sofia profile external rescan"]


def test_restart_refused_right_after_start_is_retried_after_the_wait(root, snapshot, runtime, monkeypatch):
    deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())
    waits: list[float] = []
    monkeypatch.setattr(deploy_module.time, "sleep", waits.append)
    fs = FakeFreeSWITCH()
    answers = ["Profile internal must be up for at least 10 seconds to stop/restart.\nPlease wait 6 seconds\n"]

    def reload(command: str) -> str:
        if command == "sofia profile internal restart" and answers:
            fs.commands.append(command)
            return answers.pop()
        return fs(command)

    deploy(office(lan_ip="192.0.2.20"), runtime, root, reload=reload)
    assert waits == [7]
    assert fs.commands.count("sofia profile internal restart") == 2


def test_profile_that_is_not_running_is_started(root, snapshot, runtime):
    deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())
    fs = FakeFreeSWITCH()

    def reload(command: str) -> str:
        fs(command)
        if command == "sofia profile external rescan":
            return "Invalid Profile [external]"
        if command == "sofia profile external start":
            return "Reload XML [Success]\nexternal started successfully\n"
        return FakeFreeSWITCH()(command)

    deploy(office(ring_seconds=40), runtime, root, reload=reload)
    assert fs.commands[-2:] == ["sofia profile external rescan", "sofia profile external start"]


def test_failing_sofia_command_is_reported_after_the_release_is_loaded(root, snapshot, runtime):
    deploy(snapshot, runtime, root, reload=FakeFreeSWITCH())

    def reload(command: str) -> str:
        return (
            "-ERR cannot find config for profile internal\n" if command.endswith("internal rescan") else "+OK [Success]"
        )

    with pytest.raises(DeployError, match=r"is loaded, but 'sofia profile internal rescan' answered"):
        release = deploy(office(ring_seconds=40), runtime, root, reload=reload)
    release = current_release(root)
    assert (
        release is not None
        and "call_timeout=40" in (release.path / "dialplan/default/10_extension_1001.xml").read_text()
    )


def test_keeps_the_newest_five_releases(root, runtime):
    made = [deploy(office(ring_seconds=20 + i), runtime, root) for i in range(7)]
    kept = list_releases(root)
    assert [r.name for r in kept] == [r.name for r in made[-5:]]
    assert current_release(root) == made[-1]
    assert not made[0].path.exists() and not made[1].path.exists()


def test_rollback_points_at_the_previous_release(root, snapshot, runtime):
    first = deploy(snapshot, runtime, root)
    deploy(office(ring_seconds=40), runtime, root)
    fs = FakeFreeSWITCH()
    assert rollback(root, reload=fs) == first
    assert current_release(root) == first
    assert fs.commands[0] == "reloadxml"
    assert "call_timeout=25" in (root / "current/dialplan/default/10_extension_1001.xml").read_text()


def test_rollback_refused_by_freeswitch_returns_to_where_it_was(root, snapshot, runtime):
    deploy(snapshot, runtime, root)
    second = deploy(office(ring_seconds=40), runtime, root)
    with pytest.raises(DeployError, match="refused"):
        rollback(root, reload=FakeFreeSWITCH("-ERR no\n"))
    assert current_release(root) == second
    assert len(list_releases(root)) == 2  # rollback never deletes a release


def test_rollback_without_an_older_release(root, snapshot, runtime):
    with pytest.raises(DeployError, match="nothing to roll back"):
        rollback(root)
    deploy(snapshot, runtime, root)
    with pytest.raises(DeployError, match="oldest"):
        rollback(root)


def test_release_names_keep_deploy_order_when_the_clock_goes_back(root, snapshot, runtime, monkeypatch):
    first = deploy(snapshot, runtime, root)

    class Past(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2001, 1, 1, tzinfo=UTC)

    monkeypatch.setattr(deploy_module, "datetime", Past)
    second = deploy(office(ring_seconds=40), runtime, root)
    assert second.name > first.name
    assert [r.name for r in list_releases(root)] == [first.name, second.name]


def test_unreachable_freeswitch_keeps_the_previous_release(root, snapshot, runtime):
    good = deploy(snapshot, runtime, root)

    def reload(command: str) -> str:
        raise ConnectionRefusedError("127.0.0.1:8021")

    with pytest.raises(DeployError, match=r"could not reach FreeSWITCH .* previous release .* still running"):
        deploy(office(ring_seconds=40), runtime, root, reload=reload)
    assert current_release(root) == good
