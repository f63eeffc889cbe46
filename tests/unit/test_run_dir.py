"""Each suite run gets a directory of its own under reports/runs/."""
import stat

from fixtures.context import new_run_dir


def test_two_runs_in_the_same_second_get_different_private_directories(tmp_path):
    first = new_run_dir("prod", runs=tmp_path, now=1_764_489_600)
    second = new_run_dir("prod", runs=tmp_path, now=1_764_489_600)
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name == "20251130T080000Z-prod" and second.name == "20251130T080000Z-prod-1"
    assert stat.S_IMODE(first.stat().st_mode) == 0o700


def test_an_env_name_cannot_leave_the_runs_directory(tmp_path):
    path = new_run_dir("../../etc/x y", runs=tmp_path, now=0)
    assert path.parent == tmp_path and "/" not in path.name and " " not in path.name
