"""The documentation stays in step with the code: every config key is documented."""

from __future__ import annotations

from conftest import REPO

from mousefear import config as C


def _leaf_keys(node, prefix=""):
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("videos", "protocol"):
            yield from _leaf_keys(value, dotted + ".")
        else:
            yield dotted


def test_every_template_key_is_in_the_config_reference():
    text = (REPO / "docs" / "config-reference.md").read_text()
    missing = [k for k in _leaf_keys(C.defaults()) if f"`{k}`" not in text and f"`{k.rsplit('.', 1)[-1]}`" not in text]
    assert missing == []
