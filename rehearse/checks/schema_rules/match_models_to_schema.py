"""RH403: the migrated schema differs from the SQLAlchemy models (drift)."""

from typing import ClassVar, Iterator

from ..base import DatabaseContext, DatabaseRule, Hit, register


@register
class MatchModelsToSchema(DatabaseRule):
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

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        if not ctx.models:
            return
        from ..drift import model_differences
        for message, evidence in model_differences(ctx.url, ctx.models, project_dir=ctx.project_dir):
            yield Hit(message, evidence)
