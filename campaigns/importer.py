"""Old import path, kept only for ``bench/bench_pacing.py`` (another engineer's file, in
progress): use :mod:`campaigns.model` and :mod:`campaigns.imports`. Delete with that import."""

from campaigns.model import ContactRow

__all__ = ["ContactRow"]
