"""Prompt templates, backend-neutral messages, strict answer parsing, reproducible ICL choice."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from mousefear.core.prompts import (
    Example,
    available_prompts,
    build_messages,
    load_prompt_template,
    parse_answer,
    prompt_document,
    query_turn,
    render_prompt,
    select_icl_examples,
    text_hash,
)
from mousefear.core.video import Window
from mousefear.errors import ConfigError

BEHAVIORS = [("freezing", "no movement except breathing"), ("exploring", "walks and sniffs"),
             ("rearing", "stands on the hind legs")]
NAMES = [n for n, _ in BEHAVIORS]


def _example(ex_id: str, label: str, k: int = 4) -> Example:
    frames = np.full((k, 56, 84, 3), 7, np.uint8)
    return Example(id=ex_id, label=label, frames=frames, fps=30.0, frame_indices=np.arange(30, 30 + 8 * k, 8),
                   start_frame=30, end_frame=60, video_id="m1_day1")


def test_default_template_renders_definitions_names_and_question():
    t = load_prompt_template("default")
    assert t.path.name == "default.yaml" and "default" in available_prompts()
    p = render_prompt(t, BEHAVIORS)
    for name, definition in BEHAVIORS:
        assert f"- {name}: {definition}" in p.system
    assert "freezing, exploring, rearing" in p.system
    assert p.behaviors == tuple(NAMES)
    q = p.question(4, 1.0)
    assert q == ("These 4 frames span 1.0 s of video. Which behaviour does the mouse show? "
                 "Answer with one of: freezing, exploring, rearing.")
    assert "{" not in p.system


def test_every_builtin_template_loads():
    for name in available_prompts():
        render_prompt(load_prompt_template(name), BEHAVIORS).question(2, 0.5)


def test_project_template_wins_over_builtin(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "default.yaml").write_text(
        "system: 'Mine. {definitions}'\ndefinition_line: '{name}={definition}'\nquestion: 'Which? {names}'\n")
    t = load_prompt_template("default", tmp_path)
    assert t.path == tmp_path / "prompts" / "default.yaml"
    p = render_prompt(t, BEHAVIORS)
    assert p.system == "Mine. freezing=no movement except breathing\nexploring=walks and sniffs\n" \
                       "rearing=stands on the hind legs"
    assert p.question(4, 1.0) == "Which? freezing, exploring, rearing"


def test_unknown_template_lists_available(tmp_path):
    with pytest.raises(ConfigError, match=r"No prompt template 'nope'.*available: .*default"):
        load_prompt_template("nope", tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("system: 'x {oops}'\ndefinition_line: '{name}'\nquestion: 'q'\n", r"placeholders of system .*\{oops\}"),
    ("system: 'x'\ndefinition_line: '{name}'\n", r"Expected question to be a non-empty text, but got None"),
    ("system: 'x {'\ndefinition_line: '{name}'\nquestion: 'q'\n", r"broken one"),
    ("- a\n- b\n", r"Expected a mapping"),
])
def test_bad_template_names_the_file(tmp_path, text, message):
    (tmp_path / "prompts").mkdir()
    path = tmp_path / "prompts" / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_prompt_template("bad", tmp_path)
    assert str(path) in str(err.value)


def test_messages_are_system_then_example_pairs_then_the_window():
    p = render_prompt(load_prompt_template("default"), BEHAVIORS)
    examples = [_example("m1_day1_000030-000060", "freezing"), _example("m1_day1_000090-000120", "rearing", k=2)]
    turns = build_messages(p, examples)
    assert [t.role for t in turns] == ["system", "user", "assistant", "user", "assistant"]
    assert turns[0].text == p.system and turns[0].frames is None
    assert turns[1].n_frames == 4 and turns[1].text == p.question(4, 1.0)
    assert turns[1].frame_indices.tolist() == [0, 8, 16, 24] and turns[1].clip_frames == 30
    assert turns[2].text == "freezing" and turns[4].text == "rearing"
    assert turns[3].text == p.question(2, 1.0)
    window = Window("v", 3, 90, 105, np.array([92, 99]), np.zeros((2, 28, 28, 3), np.uint8), 30.0, partial=True)
    q = query_turn(p, window)
    assert q.role == "user" and q.frame_indices.tolist() == [2, 9] and q.clip_frames == 15
    assert q.text == p.question(2, 0.5)


def test_example_with_unknown_label_is_refused():
    p = render_prompt(load_prompt_template("default"), BEHAVIORS)
    with pytest.raises(ValueError, match="grooming"):
        build_messages(p, [_example("x", "grooming")])


def test_prompt_document_hash_changes_with_examples_and_definitions():
    t = load_prompt_template("default")
    p = render_prompt(t, BEHAVIORS)
    doc0 = prompt_document(p, [])
    doc1 = prompt_document(p, [_example("m1_day1_000030-000060", "freezing")])
    assert p.system in doc0 and "m1_day1_000030-000060: freezing" in doc1
    p2 = render_prompt(t, [("freezing", "changed"), *BEHAVIORS[1:]])
    hashes = {text_hash(doc0), text_hash(doc1), text_hash(prompt_document(p2, []))}
    assert len(hashes) == 3
    assert text_hash(doc0) == text_hash(prompt_document(p, []))  # deterministic


@pytest.mark.parametrize(("text", "expected"), [
    ("freezing", 0), (" Freezing.\n", 0), ('"rearing"', 2), ("EXPLORING!", 1), ("rearing.</s>", None),
    ("freezing, exploring", None), ("The mouse is rearing", None), ("", None), ("freeze", None),
    ("rearing rearing", None),
])
def test_parse_answer_is_strict(text, expected):
    assert parse_answer(text, NAMES) == expected


def test_icl_choice_is_reproducible_per_behaviour():
    ids = [f"v_{i:06d}-{i + 30:06d}" for i in range(0, 600, 30)]
    labels = (["freezing", "exploring", ""] * 7)[:20]
    table = pd.DataFrame({"id": ids, "label": labels})
    chosen, short = select_icl_examples(table, NAMES, 2, seed=42)
    assert short == {"rearing": 2}
    assert chosen == select_icl_examples(table.sample(frac=1, random_state=1), NAMES, 2, seed=42)[0]
    # independent computation: sorted pool, default_rng([seed, crc32(name)]).choice without replacement
    expected = []
    for name in ("freezing", "exploring"):
        pool = sorted(i for i, lab in zip(ids, labels, strict=True) if lab == name)
        pick = np.random.default_rng([42, zlib.crc32(name.encode())]).choice(len(pool), 2, replace=False)
        expected += [pool[j] for j in sorted(pick.tolist())]
    assert chosen == expected
    # adding an exemplar of another behaviour does not change the choice for freezing
    more = pd.concat([table, pd.DataFrame({"id": ["w_000000-000030"], "label": ["exploring"]})])
    assert select_icl_examples(more, NAMES, 2, seed=42)[0][:2] == chosen[:2]
    assert select_icl_examples(table, NAMES, 0, seed=42) == ([], {})
    assert {tuple(select_icl_examples(table, NAMES, 1, seed=s)[0]) for s in range(20)} != {tuple(chosen[:1])}
