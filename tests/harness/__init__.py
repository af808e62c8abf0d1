# SPDX-License-Identifier: GPL-3.0-or-later
"""Test harness: real PostgreSQL, FreeSWITCH and sipp, started by the tests themselves."""
