"""Storage: SQLAlchemy Core (async) over SQLite and PostgreSQL, Alembic migrations.

``engine``, ``transactions`` (the one retry place), ``tables`` and ``migrate``; one module
per aggregate (``campaigns``, ``contacts``, ``attempts``, ``callbacks``, ``dnc``, ``users``,
``catalogue``, ``interactions``, ``cases``) assembled into the two stores in ``store``;
``fast/`` holds the driver-level fast paths measured by the benchmarks.
"""
