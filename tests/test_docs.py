"""The documentation stays in step with the code: every config key is documented."""

from __future__ import annotations

from conftest import REPO

from mousefear.core.settings import key_paths


def test_every_template_key_is_in_the_config_reference():
    text = (REPO / "docs" / "config-reference.md").read_text()
    missing = [k for k in key_paths() if f"`{k}`" not in text and f"`{k.rsplit('.', 1)[-1]}`" not in text]
    assert missing == []


def test_api_reference_is_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_api_reference", REPO / "docs" / "make_api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (REPO / "docs" / "api.md").read_text(encoding="utf-8") == module.render(), (
        "docs/api.md is out of date: run python docs/make_api_reference.py")


def test_every_public_function_has_a_docstring_and_type_hints():
    import inspect

    import mousefear

    for name in mousefear.__all__:
        obj = getattr(mousefear, name)
        if not callable(obj):
            continue
        assert inspect.getdoc(obj), f"mousefear.{name} has no docstring"
        sig = inspect.signature(obj)
        assert sig.return_annotation is not inspect.Signature.empty, f"mousefear.{name} has no return type hint"


def test_relative_links_in_readme_and_docs_exist():
    import re

    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert broken == []
