"""Forecasting a campaign before it goes live: the floor simulation (also the pacing
benchmark's), the call stream built from the campaign's history, and the forecast that
replays it with Ringback's own pacer."""

from dialer.forecast.run import simulate

__all__ = ["simulate"]
