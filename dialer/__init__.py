"""The engine: pacing, claiming due contacts, callback delivery; the service and CLI."""
