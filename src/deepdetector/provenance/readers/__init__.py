"""Provenance readers: each module registers one reader with ``PROVENANCE_READERS``."""
