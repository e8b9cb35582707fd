"""rehearse: rehearse Alembic migrations on an anonymized copy of production."""

__version__ = "0.1.0"
