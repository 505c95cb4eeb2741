"""Write constraints.txt from a clean virtualenv and check the pins (make lock, make check-pins).

``python tools/lock.py write [--upgrade]`` creates a throw-away virtualenv, installs
``.[dev,bench]`` from the package registry with pip's cache off (keeping today's pins, or the
newest releases with ``--upgrade``), and writes every installed distribution as
``name==version`` (``pip list --format=freeze``, which never writes a direct reference, unlike
``pip freeze`` for a package installed from a wheel file). The result is checked before it is
written: the file is never replaced by one that names a path or URL.

``python tools/lock.py check`` fails, naming the file and line, on any direct reference (``@``,
``file:``, ``http(s):``, ``git+``) or path in ``constraints.txt`` or ``pyproject.toml``.

``python tools/lock.py pythons 3.11 3.12 3.13`` asks pip whether the pinned set resolves, as
binary wheels, for each CPython version on this platform (a dry run: nothing is installed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036 - the message a too-old Python gets
    sys.exit(f"Ledgerhouse needs CPython 3.11 or newer; {sys.executable} is "
             f"{sys.version.split()[0]}. Run make with PYTHON=python3.11 (or newer).")

import tomllib

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
PYPROJECT = ROOT / "pyproject.toml"
EXTRAS = ".[dev,bench]"
# installer tooling that a virtualenv brings itself; not pinned
_UNPINNED = {"pip", "setuptools", "wheel"}

_COMMENT = re.compile(r"(^|\s)#.*$")
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.!+_-]*$")
_DIRECT = re.compile(r"(\s@\s|@\s*\S+:|\bfile:|\bhttps?:|\bgit\+|\bsvn\+|\bhg\+|\bbzr\+)", re.I)
_PATHLIKE = re.compile(r"(^|[\s=@])(/|~|\.{1,2}/|[A-Za-z]:\\)")


def check_constraint_lines(text: str, source: str = "constraints.txt") -> list[str]:
    """Problems in a constraints file: every line must be exactly ``name==version``."""
    problems = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        if _DIRECT.search(line) or _PATHLIKE.search(line):
            problems.append(f"{source}:{number}: direct reference {line!r}: pin a registry "
                            "release as name==version (run `make lock`)")
        elif not _PIN.match(line):
            problems.append(f"{source}:{number}: {line!r} is not name==version "
                            "(run `make lock`)")
    return problems


def check_requirement_strings(requirements: list[str], source: str) -> list[str]:
    """Problems in pyproject dependency strings: no direct reference or path in any of them."""
    problems = []
    for requirement in requirements:
        spec = requirement.split(";", 1)[0]
        if _DIRECT.search(spec) or _PATHLIKE.search(spec):
            problems.append(f"{source}: direct reference {requirement!r}: depend on a registry "
                            "release with a version range instead")
    return problems


def check(constraints: Path = CONSTRAINTS, pyproject: Path = PYPROJECT) -> list[str]:
    problems = check_constraint_lines(constraints.read_text(), constraints.name)
    project = tomllib.loads(pyproject.read_text())
    table = project.get("project", {})
    problems += check_requirement_strings(table.get("dependencies", []),
                                          f"{pyproject.name} [project].dependencies")
    for extra, requirements in table.get("optional-dependencies", {}).items():
        problems += check_requirement_strings(
            requirements, f"{pyproject.name} [project.optional-dependencies].{extra}")
    for requirement in project.get("build-system", {}).get("requires", []):
        problems += check_requirement_strings([requirement], f"{pyproject.name} [build-system]")
    return problems


def _pip_env() -> dict[str, str]:
    """The registry only: no pip cache and no local wheel folders (find-links) to satisfy a pin."""
    env = dict(os.environ, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PIP_FIND_LINKS", None)
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def write(upgrade: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="ledgerhouse-lock-") as tmp:
        venv = Path(tmp) / "venv"
        print(f"lock: creating a clean virtualenv in {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        print(f"lock: installing {EXTRAS} from the registry (no cache, no local wheels)",
              flush=True)
        subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True,
                       env=_pip_env())
        keep: list[str] = []
        if not upgrade:
            current = Path(tmp) / "current.txt"
            current.write_text("\n".join(
                line for line in CONSTRAINTS.read_text().splitlines()
                if not check_constraint_lines(line)) + "\n")
            keep = ["-c", str(current)]
        subprocess.run([*pip, "install", "--quiet", *keep, "-e", EXTRAS], check=True, cwd=ROOT,
                       env=_pip_env())
        listed = subprocess.run([*pip, "list", "--format=freeze", "--exclude-editable"],
                                check=True, capture_output=True, text=True).stdout
    lines = [line for line in listed.splitlines()
             if line and line.split("==")[0].lower() not in _UNPINNED]
    text = "\n".join(lines) + "\n"
    problems = check_constraint_lines(text)
    if problems:
        print("lock: refusing to write constraints.txt:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    CONSTRAINTS.write_text(text)
    print(f"lock: wrote {len(lines)} pins to {CONSTRAINTS.name}")
    return 0


def pythons(versions: list[str]) -> int:
    failed = []
    for version in versions:
        with tempfile.TemporaryDirectory() as target:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                 "--only-binary=:all:", "--python-version", version, "--target", target,
                 "-c", str(CONSTRAINTS), "-e", EXTRAS],
                cwd=ROOT, env=_pip_env(), capture_output=True, text=True)
        ok = result.returncode == 0 and "Would install" in result.stdout
        print(f"CPython {version}: {'resolves' if ok else 'DOES NOT RESOLVE'}")
        if not ok:
            failed.append(version)
            print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "write":
        return write(upgrade="--upgrade" in argv[1:])
    if command == "pythons":
        return pythons(argv[1:] or ["3.11", "3.12", "3.13"])
    if command == "check":
        problems = check()
        print(*problems, sep="\n") if problems else print("pins: every pin is name==version")
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
