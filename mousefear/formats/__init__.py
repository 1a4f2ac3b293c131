"""File formats, read and write only: behaviour vectors (HDF5 + CSV), canonical label files, label tables and
BORIS exports. They return neutral data and know nothing of projects (see docs/architecture.md)."""
