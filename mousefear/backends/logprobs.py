"""Behaviour probabilities from what an OpenAI-compatible server returns: the log-probabilities of a constrained
answer (:func:`choice_probabilities`) or of a scored prompt (:func:`answer_logprob`). Pure functions, used by
:mod:`mousefear.backends.openai`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mousefear.errors import ModelError

__all__ = ["answer_logprob", "choice_probabilities"]


def choice_probabilities(content: Sequence[dict[str, Any]], behaviors: Sequence[str]) -> np.ndarray | None:
    """Behaviour probabilities from the log-probabilities of a constrained answer.

    Parameters
    ----------
    content
        ``choices[0].logprobs.content`` of a chat completion: one entry per answer token with ``token`` (text),
        ``logprob`` and ``top_logprobs`` (list of ``{"token", "logprob"}`` alternatives at that position).
    behaviors
        Behaviour names, in the order of the result.

    Returns
    -------
    np.ndarray or None
        (n_behaviors,) float64 probabilities summing to 1, or None when no token matched any behaviour.

    Notes
    -----
    Walking along the generated answer, at position i (generated text so far ``s``, probability ``P(s)``) every
    alternative token ``u`` other than the generated one gives ``P(s) * exp(logprob(u))`` to the behaviours whose
    name starts with ``s + u`` (split evenly among them); after the last token the generated path's probability
    goes to the behaviour it spells. Tokens that continue no behaviour (an unconstrained server) are dropped, and
    the masses are renormalised to sum to 1. A behaviour none of whose prefixes is among the alternatives gets 0.
    """
    mass = np.zeros(len(behaviors), dtype=np.float64)
    prefix, carry = "", 1.0
    for step in content:
        token = str(step.get("token", ""))
        for alt in step.get("top_logprobs") or []:
            alt_token = str(alt.get("token", ""))
            if alt_token == token or not alt_token:
                continue
            lp = float(alt.get("logprob", -math.inf))
            hits = [i for i, b in enumerate(behaviors) if b.startswith(prefix + alt_token)]
            for i in hits:
                mass[i] += carry * math.exp(lp) / len(hits)
        carry *= math.exp(float(step.get("logprob", -math.inf)))
        prefix += token
    if prefix in behaviors:
        mass[list(behaviors).index(prefix)] += carry
    total = mass.sum()
    if not np.isfinite(total) or total <= 0:
        return None
    return mass / total


def answer_logprob(prompt_logprobs: Sequence[Any], answer: str) -> float:
    """Log-probability of ``answer`` (plus the end-of-turn token after it) at the end of a scored prompt.

    Parameters
    ----------
    prompt_logprobs
        vLLM's ``prompt_logprobs`` of a request whose conversation ends with the assistant turn ``answer``
        (asked with ``prompt_logprobs: 0``): one entry per prompt token, ``None`` for the first, else
        ``{token_id: {"logprob", "rank", "decoded_token"}}`` holding that token.
    answer
        The assistant's answer text (a behaviour name).

    Returns
    -------
    float
        Sum of the log-probabilities of the answer's tokens and of the one token that follows them
        (``<|im_end|>`` in Qwen's chat template).

    Raises
    ------
    ModelError
        The answer's tokens cannot be found at the end of the prompt.
    """
    entries = []
    for e in prompt_logprobs:
        if not e:
            entries.append(("", math.nan))
            continue
        if len(e) != 1:
            raise ModelError(f"Expected one log-probability per prompt token (prompt_logprobs 0), but got {len(e)}")
        (v,) = e.values()
        entries.append((str(v.get("decoded_token") or ""), float(v["logprob"])))
    texts = [t for t, _ in entries]
    # the answer starts at the last position from which the remaining text starts with the answer
    for j in range(len(entries) - 1, -1, -1):
        if "".join(texts[j:]).startswith(answer):
            acc = ""
            for k in range(j, len(entries)):
                acc += texts[k]
                if acc == answer:
                    if k + 1 >= len(entries):
                        break
                    return float(sum(lp for _, lp in entries[j:k + 2]))
                if not answer.startswith(acc):
                    break
            break
    raise ModelError(f"Cannot find the answer {answer!r} among the last prompt tokens "
                     f"{texts[-8:]!r} of the server's prompt_logprobs")
