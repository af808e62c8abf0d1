# SPDX-License-Identifier: GPL-3.0-or-later
"""Throwaway local services for development (`make run`) and the test harness."""
