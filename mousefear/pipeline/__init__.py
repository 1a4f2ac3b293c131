"""The work on a project: registry, classification runs (cache, resume), exemplars, labels, evaluation, summaries,
calibration, reports. Public functions take the config path (or an opened Project) first (see
docs/architecture.md)."""
