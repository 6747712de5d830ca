"""Contact and do-not-call files: reading and checking them (``files``), and loading their
batches through the store (``loading``), as the CLI and the HTTP API both do."""
