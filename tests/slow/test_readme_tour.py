"""The README's tour, run as written against the demo warehouse (`make run`'s data: FinBench
SF 0.05, seed 42), so the front door cannot drift from what the product answers.

Each `$ command` of the tour's code blocks is run: `curl` through the app (headers, body and
URL as written, `$KEY` the admin key), `ledgerhouse ...` through the CLI on the demo root,
`cat FILE` writes the file the README shows, `printf ... |` feeds the next command. Every
value the README prints after a command (JSON strings and numbers, table cells, CSV lines) must
appear, in order, in what the command printed; ids, keys and timings are masked on both sides.
The Python session of step 4 is executed and its table compared the same way.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.api import create_app
from ledgerhouse.cli.demo import run_demo
from ledgerhouse.cli.main import app as cli
from ledgerhouse.cli.output import Output
from ledgerhouse.config import load_settings
from ledgerhouse.services import Warehouse

README = Path(__file__).parents[2] / "README.md"
pytestmark = pytest.mark.slow

_MASKS = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"lh_[A-Za-z0-9_-]{20,}"), "<key>"),
    (re.compile(r'"elapsed_ms":\s*[0-9.]+'), '"elapsed_ms":<ms>'),
    (re.compile(r"[0-9.]+ ms\b"), "<ms> ms"),
    (re.compile(r"\([0-9.]+s\)"), "(<s>)"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"), "<time>"),
]
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?|[A-Za-z_<>][\w<>.:-]*')


def _masked(text: str) -> str:
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text


def _tokens(text: str) -> list[str]:
    return [t.strip('"') for t in _TOKEN.findall(_masked(text)) if t.strip('"')]


def _same(expected: str, actual: str) -> bool:
    """Equal tokens, numbers to the last digit: money is exact and every answer repeats bit
    for bit (decision 0014)."""
    return expected == actual


def _in_order(expected: list[str], actual: list[str]) -> str | None:
    """None when ``expected`` is a subsequence of ``actual``, else the first token missing."""
    it = iter(actual)
    for token in expected:
        if not any(_same(token, a) for a in it):
            return token
    return None


def _tour() -> list[tuple[str, str]]:
    """(command, printed output) of every `$ ` line of the tour's code blocks."""
    text = README.read_text()
    tour = text.split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    steps: list[tuple[str, str]] = []
    for block in re.findall(r"```\n(.*?)```", tour, re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:]
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            i += 1
            output = []
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            steps.append((command, "\n".join(output)))
    return steps


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("tour") / "warehouse"
    run_demo(Output(), load_settings(root=root), 0.05, serve=False)
    with Warehouse.open(root=root) as wh:
        key = wh.local(roles=("admin",)).create_api_key("tour", ("admin",))
    yield root, key


def _curl(args: list[str], key: str, stdin: bytes, cwd: Path, client: TestClient) -> str:
    headers: dict[str, str] = {}
    body = b""
    url = ""
    it = iter(args[1:])
    for arg in it:
        if arg == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip().replace("$KEY", key)
        elif arg in ("-d", "--data-binary"):
            data = next(it)
            if data == "@-":
                body = stdin
            elif data.startswith("@"):
                body = (cwd / data[1:]).read_bytes()
            else:
                body = data.encode()
        elif arg.startswith("http"):
            url = arg.split("8000", 1)[1]
    response = (
        client.post(url, content=body, headers=headers)
        if body
        else client.get(url, headers=headers)
    )
    return response.text


def test_every_tour_command_prints_what_the_readme_shows(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    root, key = demo
    steps = _tour()
    commands = [c for c, _ in steps]
    assert any(c.startswith("curl") for c in commands) and any("ledgerhouse" in c for c in commands)
    runner = CliRunner()
    with TestClient(create_app(Warehouse.open(root=root))) as client:
        for command, expected in steps:
            command = command.replace("$KEY", key)
            if command.startswith(("make run", "export ", "source ")):
                continue  # the demo (the fixture), the shell set-up
            stdin = b""
            if command.startswith("printf "):
                printf, _, command = command.partition("|")
                text = shlex.split(printf)[1]
                stdin = text.encode().decode("unicode_escape").encode()
                command = command.strip()
            args = shlex.split(command)
            if args[0] == "cat":
                (tmp_path / args[1]).write_text(expected + "\n")
                continue
            if args[0] == "curl":
                printed = _curl(args, key, stdin, tmp_path, client)
            else:
                assert args[0] == "ledgerhouse", command
                files = [tmp_path / a if (tmp_path / a).exists() else a for a in args[1:]]
                res = runner.invoke(cli, [*map(str, files), "--root", str(root)])
                printed = res.stdout + res.stderr
            missing = _in_order(_tokens(expected), _tokens(printed))
            assert missing is None, f"{command}\nREADME shows {missing!r}; it printed:\n{printed}"


def test_the_python_session_of_the_tour_prints_the_readme_table(demo: tuple[Path, str]) -> None:
    root, _ = demo
    text = README.read_text().split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    session = next(b for b in re.findall(r"```\n(.*?)```", text, re.S) if b.startswith(">>>"))
    code, shown = [], []
    for line in session.splitlines():
        if line.startswith((">>> ", "... ")):
            code.append(line[4:])
        else:
            shown.append(line)
    source = "\n".join(code).replace('root="warehouse"', f"root={str(root)!r}")
    namespace: dict[str, object] = {}
    lines = source.splitlines()
    final = next(i for i in range(len(lines) - 1, -1, -1) if not lines[i].startswith(" "))
    exec("\n".join(lines[:final]), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print(eval("\n".join(lines[final:]), namespace))
    missing = _in_order(_tokens("\n".join(shown)), _tokens(out.getvalue()))
    assert missing is None, f"README shows {missing!r}; it printed:\n{out.getvalue()}"
