# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: performance figures through real FreeSWITCH and sipp (see docs/benchmarks.md)."""
