# SPDX-License-Identifier: GPL-3.0-or-later
"""Configuration changes reach the running FreeSWITCH; a refused one leaves the last good one running."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.fsconf import service
from appliance.fsconf.check import ConfigError
from appliance.fsconf.deploy import DeployError, current_release
from appliance.fsconf.render import default_templates

# The package re-exports deploy() under the module's own name.
deploy_module = importlib.import_module("appliance.fsconf.deploy")


def _answered_call(office) -> None:
    desk = office.phone("desk101-1")
    call = office.call("102", "101")
    assert call.ok, call.explain()
    assert desk.wait(timeout=30).received("INVITE")


def _broken_templates(tmp_path: Path) -> Path:
    templates = tmp_path / "templates"
    shutil.copytree(default_templates(), templates)
    dialplan = templates / "dialplan" / "default.xml.j2"
    dialplan.write_text(dialplan.read_text().replace("</context>", "<extension name='broken'></context>", 1))
    return templates


def test_cli_change_is_applied_to_the_running_freeswitch_without_a_restart(office, capsys):
    config = str(office.config_file())
    assert main(["--config", config, "extension", "add", "104", "Dave"]) == 0
    assert office.register("104").received("SIP/2.0 403"), "104 registered before the change was applied"
    pid = office.fs.proc.pid
    assert main(["--config", config, "--json", "config", "apply"]) == 0
    assert '"release"' in capsys.readouterr().out
    result = office.register("104")
    assert result.ok and result.received("SIP/2.0 200"), result.explain()
    assert office.fs.proc.pid == pid and office.fs.running()


def test_a_tree_our_check_refuses_never_reaches_freeswitch(office, tmp_path):
    root = Path(office.cfg["freeswitch"]["conf_root"])
    before = current_release(root)
    rt = service.runtime(office.cfg)
    with pytest.raises(ConfigError, match=r"dialplan/default.xml"):
        deploy_module.deploy(
            office.snapshot(),
            rt,
            root,
            reload=service.esl_reloader(office.cfg, rt),
            templates=_broken_templates(tmp_path),
        )
    assert current_release(root) == before
    _answered_call(office)


def test_a_release_freeswitch_refuses_is_rolled_back_and_the_last_good_keeps_running(office, tmp_path, monkeypatch):
    root = Path(office.cfg["freeswitch"]["conf_root"])
    before = current_release(root)
    rt = service.runtime(office.cfg)
    # Let the broken tree past our own check so that FreeSWITCH itself judges it.
    monkeypatch.setattr(deploy_module, "check", lambda tree: None)
    with pytest.raises(DeployError, match=r"FreeSWITCH refused the configuration.*previous release .* still running"):
        deploy_module.deploy(
            office.snapshot(),
            rt,
            root,
            reload=service.esl_reloader(office.cfg, rt),
            templates=_broken_templates(tmp_path),
        )
    assert current_release(root) == before
    assert "+OK [Success]" in office.esl("reloadxml")
    _answered_call(office)
