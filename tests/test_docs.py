"""Checked docs: every setting, CLI command and dataset contract is documented, and the README
shows the two set-up commands CI runs."""

from __future__ import annotations

from pathlib import Path

from ledgerhouse.cli.main import app
from ledgerhouse.config import Settings
from ledgerhouse.ingest import render_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_datasets_doc_is_generated_from_the_contracts() -> None:
    assert (ROOT / "docs" / "datasets.md").read_text() == render_markdown(), (
        "regenerate: python -c 'from ledgerhouse.ingest import render_markdown; "
        'open("docs/datasets.md","w").write(render_markdown())\''
    )


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`{name}`" in text and f"LEDGERHOUSE_{name.upper()}" in text, name


def test_every_cli_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert len(names) >= 10
    for name in names:
        assert f"ledgerhouse {name}" in text, name


def test_readme_shows_the_two_commands_and_links_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    for doc in (ROOT / "docs").glob("*.md"):
        assert f"docs/{doc.name}" in readme, f"README does not link docs/{doc.name}"
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_commands_named_in_hints_and_docs_exist() -> None:
    import re

    import typer.main

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    texts = [p.read_text() for p in (ROOT / "src").rglob("*.py")]
    texts += [p.read_text() for p in (ROOT / "docs").rglob("*.md")] + [
        (ROOT / "README.md").read_text()
    ]
    for text in texts:
        for name in re.findall(r"`ledgerhouse ([a-z][a-z-]*)", text):
            assert name in commands, f"`ledgerhouse {name}` is named but does not exist"
