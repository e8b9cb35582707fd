"""Rules on the Alembic revision graph and revision modules (RH3xx)."""
