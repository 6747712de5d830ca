"""Old import path, kept only for ``bench/bench_pacing.py`` (another engineer's file, in
progress): use :mod:`campaigns.storage.store`. Delete with that import."""

from campaigns.storage.store import SqlStore

__all__ = ["SqlStore"]
