"""Driver-level fast paths, each there because a benchmark measured SQLAlchemy's cost above
the database's own work: statements on SQLite's loop thread (``sqlite_driver``), prebuilt
statements bound by position (``prepared``), bulk contact writes (``bulk``), the claim on
asyncpg (``pg_claim``)."""
