# SPDX-License-Identifier: GPL-3.0-or-later
"""The step runner: order, markers, and resuming an interrupted first boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.firstboot import runner


def _steps(log: list[str], fail: set[str]):
    def make(name: str):
        def run() -> None:
            log.append(name)
            if name in fail:
                raise OSError(f"{name} broke")

        return runner.Step(name, run)

    return [make(n) for n in ("disk", "hostname", "data-volume", "database")]


def test_every_step_runs_once_in_order_and_is_marked(tmp_path: Path):
    log: list[str] = []
    assert runner.run_steps(_steps(log, set()), tmp_path) == ["disk", "hostname", "data-volume", "database"]
    assert log == ["disk", "hostname", "data-volume", "database"]
    assert all(runner.is_done(tmp_path, n) for n in log)
    assert runner.run_steps(_steps(log, set()), tmp_path) == []  # a second run does nothing
    assert len(log) == 4


def test_a_failed_step_stops_the_run_and_the_next_run_resumes_there(tmp_path: Path):
    log: list[str] = []
    with pytest.raises(runner.StepFailed, match="step data-volume failed: data-volume broke"):
        runner.run_steps(_steps(log, {"data-volume"}), tmp_path)
    assert log == ["disk", "hostname", "data-volume"]
    assert not runner.is_done(tmp_path, "data-volume")
    assert not runner.is_done(tmp_path, "database")

    log.clear()
    assert runner.run_steps(_steps(log, set()), tmp_path) == ["data-volume", "database"]
    assert log == ["data-volume", "database"]


def test_markers_live_under_the_state_directory(tmp_path: Path):
    path = runner.marker(tmp_path, "disk")
    assert path == tmp_path / "steps" / "disk.done"
    runner.mark_done(path)
    assert path.read_text().endswith("Z\n")
