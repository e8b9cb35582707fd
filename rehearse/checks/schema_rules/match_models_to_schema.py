"""RH403: the migrated schema differs from the SQLAlchemy models (drift)."""

from typing import ClassVar

from ..base import Rule, register


@register
class MatchModelsToSchema(Rule):
    code = "RH403"
    name = "match-models-to-schema"
    severity = "medium"
    kind: ClassVar[str] = "drift"
    summary = "After upgrading to head, the database schema should match the models' metadata."
    problem = """
        `alembic.autogenerate.compare_metadata` found differences between the database after
        the upgrade and the application's SQLAlchemy metadata: a migration is missing, or one
        was edited after it was generated. The application will hit missing columns or
        constraints the models expect.
    """
    solution = "Generate the missing revision (`alembic revision --autogenerate`) and review it."
    alembic = "`alembic revision --autogenerate -m \"sync models\"`, then review the generated operations."
