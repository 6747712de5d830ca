"""Campaigns, contacts, attempts, retry rules, calling hours, wrap-up, callbacks, cases, users.

The modules directly in this package are the domain: frozen values, enums and pure rules,
with no I/O (``ports`` names the seams). ``services`` holds the use cases, typed on the
ports; ``imports`` reads contact files; ``storage`` is the one place that speaks SQL. The
import contracts in ``pyproject.toml`` (``lint-imports``) keep it so.
"""
