"""Backends: the ways of running a model, all behind one interface (:class:`~mousefear.backends.base.Backend`).

=============  ====================================================  ======================================
name           what                                                  module
=============  ====================================================  ======================================
transformers   Qwen2.5-VL run locally with transformers (default)    :mod:`mousefear.backends.transformers`
openai         an OpenAI-compatible server (vLLM, SGLang, ...)       ``mousefear.backends.openai``
motion         classical pixel-change freezing detector, no weights  ``mousefear.backends.motion``
=============  ====================================================  ======================================

Backends are built here and only here, from plain arguments: :func:`backend_kwargs` maps the plain
``classification`` settings of config.yaml to a backend's constructor arguments, and :func:`make_backend` builds
it. A backend never reads config.yaml. Backend modules (and torch, transformers) are imported only when their
backend is built, so ``import mousefear`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from mousefear.backends.base import Backend, WindowResult
from mousefear.errors import ConfigError, ModelError

__all__ = ["BACKENDS", "Backend", "WindowResult", "backend_class", "backend_kwargs", "get_backend", "make_backend"]

#: name -> (module, class) of every backend
BACKENDS: dict[str, tuple[str, str]] = {
    "transformers": ("mousefear.backends.transformers", "TransformersBackend"),
    "openai": ("mousefear.backends.openai", "OpenAIBackend"),
    "motion": ("mousefear.backends.motion", "MotionBackend"),
}


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name`` (imports its module).

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known ones).
    ModelError
        The backend's module is not part of this installation.
    """
    if name not in BACKENDS:
        raise ConfigError(f"Expected classification.backend to be one of {', '.join(BACKENDS)}, but got {name!r}")
    module_name, class_name = BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ModelError(f"The {name} backend is not available in this version of mousefear "
                         f"({module_name} is missing)") from None
    return getattr(module, class_name)


def get_backend(name: str, behaviors: Sequence[str], **kwargs: Any) -> Backend:
    """Build backend ``name`` for ``behaviors`` with constructor arguments ``kwargs``."""
    return backend_class(name)(behaviors, **kwargs)


def backend_kwargs(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments of backend ``name`` from the plain ``classification`` settings of config.yaml.

    Parameters
    ----------
    name
        Backend name.
    settings
        ``to_plain(cfg["classification"])``: keys ``model``, ``model_revision``, ``dtype``, ``device``,
        ``decision``, ``input_mode``, ``max_new_tokens``, ``openai``, ``motion``, ...

    Returns
    -------
    dict
        Keyword arguments for the backend's constructor (besides ``behaviors``).
    """
    s = dict(settings)
    if name == "transformers":
        return {
            "model": s["model"],
            "revision": s.get("model_revision"),
            "dtype": s.get("dtype", "auto"),
            "device": s.get("device", "auto"),
            "decision": s.get("decision", "score"),
            "input_mode": s.get("input_mode", "images"),
            "max_new_tokens": int(s.get("max_new_tokens", 8)),
        }
    if name == "openai":
        return {
            "model": s["model"],
            "decision": s.get("decision", "score"),
            "input_mode": s.get("input_mode", "images"),
            "max_new_tokens": int(s.get("max_new_tokens", 8)),
            **dict(s.get("openai") or {}),
        }
    if name == "motion":
        return dict(s.get("motion") or {})
    raise ConfigError(f"Expected classification.backend to be one of {', '.join(BACKENDS)}, but got {name!r}")


def make_backend(settings: Mapping[str, Any], behaviors: Sequence[str], **overrides: Any) -> Backend:
    """Build the backend that the ``classification`` settings name (``settings["backend"]``).

    Parameters
    ----------
    settings
        Plain ``classification`` settings (``mousefear.config.to_plain(cfg["classification"])``).
    behaviors
        Behaviour names, in config order.
    overrides
        Constructor arguments that replace those from ``settings`` (e.g. ``local_files_only=True``).
    """
    name = settings.get("backend", "transformers")
    kwargs = backend_kwargs(name, settings)
    kwargs.update(overrides)
    return get_backend(name, behaviors, **kwargs)
