"""Event storage: one repository interface, SQLite and PostgreSQL implementations."""
