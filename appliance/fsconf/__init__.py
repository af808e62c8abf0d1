# SPDX-License-Identifier: GPL-3.0-or-later
"""The FreeSWITCH configuration: render it from the model, check it, deploy it atomically.

    release = deploy(snapshot, Runtime(esl_password=...), Path("/var/lib/appliance/fsconf"), reload=esl_api)

See docs/freeswitch-conf.md for the layout, the security choices and the deploy sequence.
"""

from __future__ import annotations

from appliance.fsconf.check import ConfigError, check
from appliance.fsconf.deploy import DeployError, Release, current_release, deploy, list_releases, rollback
from appliance.fsconf.render import Runtime, render

__all__ = [
    "ConfigError",
    "DeployError",
    "Release",
    "Runtime",
    "check",
    "current_release",
    "deploy",
    "list_releases",
    "render",
    "rollback",
]
