# SPDX-License-Identifier: GPL-3.0-or-later
"""Call control: the event listener that turns FreeSWITCH events into CDRs, and the outbound-socket flows."""
