# SPDX-License-Identifier: GPL-3.0-or-later
"""The PostgreSQL store: connections, migrations and the repository of PBX objects."""
