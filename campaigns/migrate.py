"""Old import path, kept only for ``bench/bench_pacing.py`` (another engineer's file, in
progress): use :mod:`campaigns.storage.migrate`. Delete with that import."""

from campaigns.storage.migrate import upgrade

__all__ = ["upgrade"]
