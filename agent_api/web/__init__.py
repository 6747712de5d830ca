"""The browser pages: the agent desk and the supervisor board, on the HTTP API."""
