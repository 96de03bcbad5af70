"""Meta-tests that keep the docs honest."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from headwater import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("headwater_"))


def signature_text(name: str) -> str:
    sig = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
    return f"def {name}{sig}"


def test_every_hook_is_in_the_reference_with_its_exact_signature():
    reference = (ROOT / "docs" / "hooks.md").read_text()
    for name in HOOKS:
        assert f"## {name}" in reference, f"{name} has no section in docs/hooks.md"
        assert signature_text(name) in reference, (
            f"docs/hooks.md shows another signature for {name}; expected {signature_text(name)}"
        )
    documented = set(re.findall(r"^## (headwater_\w+)", reference, re.M))
    assert documented == set(HOOKS), (
        f"docs/hooks.md documents unknown hooks {documented - set(HOOKS)}"
    )


def test_every_hook_has_a_test_named_after_it():
    names: set[str] = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    for hook in HOOKS:
        assert any(n.startswith(f"test_{hook}") for n in names), f"no test named test_{hook}*"


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install uv && uv run pytest" in readme
    assert "pip install uv && uv run headwater demo" in readme
    assert re.search(r"^uv run pytest$", ci, re.M), ".ci/run must run the README's test command"
