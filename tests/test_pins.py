"""Every pin is a registry release: a fresh machine must be able to install what CI installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _lock_tool():
    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _lock_tool()


def test_committed_constraints_and_pyproject_pin_registry_releases_only():
    assert lock.check(ROOT / "constraints.txt", ROOT / "pyproject.toml") == []


def test_every_constraint_is_an_exact_pin():
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line]
    assert lines, "constraints.txt is empty"
    assert all("==" in line and "@" not in line for line in lines)


@pytest.mark.parametrize(
    "line",
    [
        "foo @ file:///x.whl",
        "httptools @ file:///tmp/wheels/httptools-0.9.0-cp311-cp311-manylinux1_x86_64.whl#sha256=b6",
        "foo @ https://example.org/foo-1.0.tar.gz",
        "foo@git+https://example.org/foo.git@v1",
        "git+https://example.org/foo.git#egg=foo",
        "/opt/wheels/foo-1.0-py3-none-any.whl",
        "./vendor/foo-1.0.tar.gz",
        "file:vendor/foo",
        "-e ../foo",
        "foo>=1.0",
        "foo",
    ],
)
def test_a_direct_reference_or_loose_pin_is_refused_naming_the_line(line):
    text = "alembic==1.20.1\n" + line + "\nwrapt==2.5.2\n"
    problems = lock.check_constraint_lines(text)
    assert len(problems) == 1
    assert problems[0].startswith("constraints.txt:2:")
    assert line.strip() in problems[0]
    assert "make lock" in problems[0]


def test_comments_blank_lines_and_normal_pins_pass():
    text = (
        "# written by make lock\n\nalembic==1.20.1\nPyYAML==6.0.4  # yaml\n"
        "polars-runtime-32==2.1.0\n"
    )
    assert lock.check_constraint_lines(text) == []


def test_a_direct_reference_in_pyproject_is_refused(tmp_path):
    (tmp_path / "constraints.txt").write_text("alembic==1.20.1\n")
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\n'
        '[project]\nname = "x"\ndependencies = ["alembic>=1.13", '
        "\"uvloop @ file:///tmp/wheels/uvloop.whl; sys_platform != 'win32'\"]\n"
        '[project.optional-dependencies]\ndev = ["foo @ git+https://example.org/foo"]\n'
    )
    problems = lock.check(tmp_path / "constraints.txt", tmp_path / "pyproject.toml")
    assert len(problems) == 2
    assert "dependencies" in problems[0] and "uvloop" in problems[0]
    assert "optional-dependencies].dev" in problems[1] and "foo" in problems[1]
