# SPDX-License-Identifier: GPL-3.0-or-later
"""The echo flow: the caller hears themselves, proving audio and call control end to end."""

from __future__ import annotations

from appliance.callcontrol.outbound import Flow, flow


@flow("echo")
class EchoFlow(Flow):
    """Answer, mark the channel, then echo the caller's audio until they hang up."""

    def run(self) -> None:
        self.enter("answering")
        self.session.answer()
        # The mark lands in the CDR's variables, so a test can tell the flow really ran.
        self.set_variable("appliance_flow_ran", "echo")
        self.enter("echoing")
        # echo only returns once the caller hangs up; block on its EXECUTE_COMPLETE.
        self.session.call_command("echo", block=True)
        self.enter("done")
