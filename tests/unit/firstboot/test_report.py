# SPDX-License-Identifier: GPL-3.0-or-later
"""What the console shows when first boot is done."""

from __future__ import annotations

import stat
from pathlib import Path

from appliance.firstboot import report

PRINTS = ["256 SHA256:abc root@appliance-1 (ED25519)", "3072 SHA256:d/e+f root@appliance-1 (RSA)"]


def test_console_url_prefers_the_address():
    assert report.console_url("appliance-1", "192.168.1.20", 443) == "https://192.168.1.20/"
    assert report.console_url("appliance-1", None, 8443) == "https://appliance-1:8443/"
    assert report.console_url("appliance-1", "fd00::5", 443) == "https://[fd00::5]/"


def test_ready_lines_start_with_the_marker_the_boot_test_waits_for():
    lines = report.ready_lines("appliance-1", "https://192.168.1.20/", PRINTS, "lab")
    assert lines[0] == "appliance-firstboot: ready"
    assert "console: https://192.168.1.20/" in lines
    assert f"  {PRINTS[0]}" in lines
    assert "LAB MODE" in lines[-1]
    assert not any("LAB" in line for line in report.ready_lines("a", "u", PRINTS, "tpm2"))


def test_issue_text_shows_the_password_and_escapes_backslashes(tmp_path: Path):
    text = report.issue_text("appliance-1", "https://10.0.0.2/", [*PRINTS, "x\\n"], "Pass2word", "tpm2")
    assert "first password: Pass2word" in text
    assert "x\\\\n" in text  # agetty would otherwise print the host name for \n
    path = tmp_path / "issue.d" / "appliance.issue"
    report.write_issue(text, path)
    assert path.read_text() == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
