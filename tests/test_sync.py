"""Host side of sync: what is copied where, what is deleted, what is refused."""

from __future__ import annotations

import os
import tarfile

from devrun.session.sync import container_path, delete_command, initial_plan, plan_sync, write_tar


def make_tree(root):
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x.txt").write_text("x")
    (root / "y.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "y.sh", 0o755)
    (root / "skip.log").write_text("no")
    os.symlink("/etc/passwd", root / "outside-link")


def test_new_directory_is_copied_whole_and_modes_kept(tmp_path):
    root = tmp_path / "src"
    make_tree(root)
    plan = plan_sync([str(root / "a"), str(root / "y.sh")], [str(root)], "/app", lambda p: True)
    tar = tarfile.open(fileobj=write_tar(plan))
    members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"app/a", "app/a/b", "app/a/b/x.txt", "app/y.sh"}
    assert members["app/y.sh"].mode & 0o777 == 0o755


def test_symlink_travels_as_a_link_never_followed(tmp_path):
    root = tmp_path / "src"
    make_tree(root)
    plan = plan_sync([str(root / "outside-link")], [str(root)], "/app", lambda p: True)
    member = tarfile.open(fileobj=write_tar(plan)).getmember("app/outside-link")
    assert member.issym() and member.linkname == "/etc/passwd" and member.size == 0


def test_ignored_files_are_not_copied(tmp_path):
    root = tmp_path / "src"
    make_tree(root)
    plan = initial_plan([str(root)], "/app", keep=lambda p: not p.endswith(".log"))
    assert "/app/skip.log" not in {dest for _, dest in plan.copies}
    assert "/app/a/b/x.txt" in {dest for _, dest in plan.copies}


def test_deleted_path_becomes_rm_inside_target_only(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    plan = plan_sync([str(root / "gone.txt"), str(root)], [str(root)], "/app", lambda p: True)
    assert delete_command(plan, "/app") == ["rm", "-rf", "--", "/app/gone.txt"]


def test_paths_outside_root_or_climbing_out_are_refused(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    assert container_path(str(tmp_path / "other" / "f"), [str(root)], "/app") is None
    plan = plan_sync([str(tmp_path / "elsewhere.txt")], [str(root)], "/app", lambda p: True)
    assert plan.refused and plan.empty


def test_single_file_root_syncs_to_target(tmp_path):
    f = tmp_path / "conf.ini"
    f.write_text("a=1")
    assert container_path(str(f), [str(f)], "/etc/app/conf.ini") == "/etc/app/conf.ini"


def test_glob_root_maps_from_its_static_prefix(tmp_path):
    (tmp_path / "packages" / "one" / "src").mkdir(parents=True)
    f = tmp_path / "packages" / "one" / "src" / "m.py"
    f.write_text("")
    assert (
        container_path(str(f), [str(tmp_path / "packages" / "*" / "src")], "/app/packages")
        == "/app/packages/one/src/m.py"
    )
