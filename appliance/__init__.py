# SPDX-License-Identifier: GPL-3.0-or-later
"""The FreeSWITCH Carrier Appliance: data model, FreeSWITCH configuration and call-control daemons."""

__version__ = "0.1.0"
