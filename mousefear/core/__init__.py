"""The data model: settings validated once, config.yaml I/O, Project, Video and Window, intervals, patterns,
preprocessing and prompts. Imports nothing above it (see docs/architecture.md)."""
