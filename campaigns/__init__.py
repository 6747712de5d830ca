"""The domain: campaigns, contacts, attempts, retry rules, calling hours, and their storage.

Nothing in this package speaks to the network.
"""
