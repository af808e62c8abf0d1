# SPDX-License-Identifier: GPL-3.0-or-later
"""The image layer: build images, boot them under QEMU, check the appliance from outside."""

import pytest

# the shared checks live outside test modules: let pytest explain their failed asserts too
pytest.register_assert_rewrite("tests.image.checks")
