"""Backends: the ways of classifying, behind two small protocols (:mod:`mousefear.backends.base`).

=============  ======  ====================================================  ======================================
name           kind    what                                                  module
=============  ======  ====================================================  ======================================
transformers   window  Qwen2.5-VL run locally with transformers (default)    ``mousefear.backends.transformers``
openai         window  an OpenAI-compatible server (vLLM, SGLang, ...)       ``mousefear.backends.openai``
motion         video   classical freezing detector, no weights               ``mousefear.backends.motion``
hybrid         window  the detector decides the windows it is sure of,       ``mousefear.backends.hybrid``
                       a model (transformers or openai) the rest
=============  ======  ====================================================  ======================================

A backend is built from the project's validated settings by its own :meth:`~mousefear.backends.base.Backend.
from_settings` (no if-chain here): :func:`build_backend` looks the class up by ``classification.backend``. A
backend never reads config.yaml. Backend modules (and torch, transformers) are imported only when their backend
is built, so ``import mousefear`` stays light. A new backend is one module with one class and one line in
:data:`BACKENDS` (and its name in the choices of ``classification.backend`` in :mod:`mousefear.core.settings`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mousefear.backends.base import Backend, VideoBackend, VideoResult, WindowBackend, WindowResult
from mousefear.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from mousefear.core.settings import Settings

__all__ = ["BACKENDS", "Backend", "VideoBackend", "VideoResult", "WindowBackend", "WindowResult", "backend_class",
           "build_backend"]

#: name -> "module:Class" of every backend that config.yaml can name
BACKENDS: dict[str, str] = {
    "transformers": "mousefear.backends.transformers:TransformersBackend",
    "openai": "mousefear.backends.openai:OpenAIBackend",
    "motion": "mousefear.backends.motion:MotionBackend",
    "hybrid": "mousefear.backends.hybrid:HybridBackend",
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
    module_name, class_name = BACKENDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ModelError(f"The {name} backend is not available in this version of mousefear "
                         f"({module_name} is missing)") from None
    return getattr(module, class_name)


def build_backend(settings: Settings, **overrides: Any) -> Backend:
    """The backend that ``classification.backend`` names, built (not loaded) from the settings.

    Parameters
    ----------
    settings
        Validated settings (``Project.open(config).settings``).
    overrides
        Constructor parameters that replace those from the settings (``local_files_only=True``, ...).
    """
    return backend_class(settings.classification.backend).from_settings(settings, **overrides)
