"""The documentation: the site builds with ``mkdocs build --strict``, and every ```python block in
docs/*.md and README.md runs.

Convention: a block right after a ``<!-- skip -->`` line is shown, not run (it needs an optional
peer, a GPU or a file). The blocks of one page run in order in one namespace, as a reader would
paste them.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
_BLOCK = re.compile(r"(?P<skip><!--\s*skip\s*-->\s*\n)?```python[^\n]*\n(?P<code>.*?)```", re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line, code) of each runnable ```python block of a Markdown page."""
    out = []
    for m in _BLOCK.finditer(text):
        if not m.group("skip"):
            out.append((text[: m.start("code")].count("\n") + 1, m.group("code")))
    return out


def test_block_finder_honours_skip():
    text = "a\n```python\nx = 1\n```\n<!-- skip -->\n```python\nraise SystemExit\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n")]


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists()], ids=lambda p: p.name)
def test_python_blocks_run(page, capsys):
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(f"{page.name} has no runnable python block")
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as e:
            pytest.fail(f"{page.name}, block at line {line}: {type(e).__name__}: {e}")
    capsys.readouterr()


def _nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    # Pages written by other work may not exist yet: build the site from the pages that do, so
    # the strict build checks every link and docstring that is there.
    present = {p.name for p in (ROOT / "docs").glob("*.md")}

    def keep(nav):
        out = []
        for entry in nav:
            title, value = next(iter(entry.items()))
            if isinstance(value, list):
                value = keep(value)
                if value:
                    out.append({title: value})
            elif value in present:
                out.append({title: value})
        return out

    config["nav"] = keep(config["nav"])
    try:
        import material  # noqa: F401
    except ImportError:  # the theme is optional: the checks do not depend on it
        config["theme"] = {"name": "mkdocs"}
    assert "index.md" in _nav_pages(config["nav"])
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    config["docs_dir"] = str(docs)
    config["site_dir"] = str(tmp_path / "site")
    config["plugins"][1]["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT)]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                           str(tmp_path / "mkdocs.yml")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "api" / "index.html").exists()
