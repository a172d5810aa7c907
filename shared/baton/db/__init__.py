"""PostgreSQL access: a pooled database handle and versioned migrations."""

from baton.db.database import Database, quote_ident
from baton.db.migrations import Migration, applied_versions, load_migrations, migrate, pending

__all__ = [
    "Database",
    "Migration",
    "applied_versions",
    "load_migrations",
    "migrate",
    "pending",
    "quote_ident",
]
