"""Old import path, kept only for ``bench/bench_pacing.py`` (another engineer's file, in
progress): use :mod:`campaigns.storage.engine`. Delete with that import."""

from campaigns.storage.engine import make_engine

__all__ = ["make_engine"]
