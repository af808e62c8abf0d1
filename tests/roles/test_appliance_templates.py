# SPDX-License-Identifier: GPL-3.0-or-later
"""The appliance role's FreeSWITCH templates task file, applied to a chroot as the image build does.

The templates travel as one archive (a per-file copy cost half a minute of each image build). Checked:
the host's tree is the source's, file for file, with root's modes; a second run changes nothing; an
edited, an added and a removed template are all followed on the next run (the renderer renders every
template it finds, so a left-over one would become configuration); the controller keeps no scratch.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

from tests.roles import chroots

# /usr is this machine's, read-only, in the test chroot: the templates go elsewhere there.
DEST = "/srv/appliance-templates"


def apply_templates(root: Path, workdir: Path, source: Path) -> subprocess.CompletedProcess:
    book = workdir / "templates.yml"
    book.write_text(
        "- name: Install the FreeSWITCH templates into an image root\n  hosts: all\n  gather_facts: false\n"
        "  tasks:\n    - name: The appliance role's templates task file\n"
        "      ansible.builtin.include_role:\n        name: appliance\n        tasks_from: templates\n"
    )
    scratch = workdir / "controller-tmp"
    scratch.mkdir(exist_ok=True)
    extra = {
        "appliance_fsconf_templates_src": str(source),
        "_appliance_templates_dest": DEST,
    }
    before = _scratches(Path("/tmp"))
    done = chroots.playbook(f"{root},", book, workdir, extra, env={"TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # Wherever the controller's temporary directory is, no scratch of the role is left in it.
    assert _scratches(scratch) == set() and _scratches(Path("/tmp")) <= before, "the controller's scratch was left"
    return done


def _scratches(directory: Path) -> set[Path]:
    return set(directory.glob("*.appliance-fsconf"))


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_templates_arrive_exactly_and_follow_the_source(chroot, tmp_path):
    source = tmp_path / "freeswitch-conf"
    shutil.copytree(chroots.REPO / "freeswitch-conf", source)
    installed = chroot / DEST.lstrip("/")

    first = apply_templates(chroot, tmp_path, source)
    assert chroots.changed(first) >= 2  # the directory and the unpack
    assert tree(installed) == tree(source)
    for path in [installed, *installed.rglob("*")]:
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (0, 0), path
        assert stat.S_IMODE(info.st_mode) == (0o755 if path.is_dir() else 0o644), path

    again = apply_templates(chroot, tmp_path, source)
    assert chroots.changed(again) == 0, again.stdout[-3000:]

    (source / "vars.xml.j2").write_text((source / "vars.xml.j2").read_text() + "<!-- edited -->\n")
    (source / "dialplan" / "added.xml.j2").write_text("<include/>\n")
    (source / "lang").joinpath("gone.xml.j2").write_text("<include/>\n")
    apply_templates(chroot, tmp_path, source)
    (source / "lang" / "gone.xml.j2").unlink()
    last = apply_templates(chroot, tmp_path, source)
    assert chroots.changed(last) >= 1
    assert tree(installed) == tree(source)
    assert not (installed / "lang" / "gone.xml.j2").exists()
