"""RH405: a column exists after the upgrade that the anonymization policy does not cover."""

from typing import ClassVar, Iterator

import psycopg2

from ...catalog import USER_COLUMNS_SQL as _COLUMNS
from ...errors import InfrastructureError
from ..base import DatabaseContext, DatabaseRule, Hit, register



@register
class RequirePolicyCoverage(DatabaseRule):
    code = "RH405"
    name = "require-policy-coverage"
    severity = "medium"
    kind: ClassVar[str] = "schema"
    summary = "Every column a migration adds should be named in the anonymization policy."
    problem = """
        A migration added a column that the anonymization policy (rehearse.yaml) does not
        mention. The next snapshot in strict mode refuses to run until someone decides what
        the column holds; without strict mode it is sampled and copied in clear unless it
        looks personal. Either way the decision belongs in the pull request that adds it.
    """
    solution = "Add the column to the policy: a strategy (fake:email, hash, null...) or keep with a reason."
    alembic = """
        In the same pull request as the revision, add under `tables: <schema.table>: columns:`
        an entry such as `email_domain: keep` or `nickname: fake:username`.
    """

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        if ctx.policy_covers is None:
            return
        try:
            with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
                cur.execute(_COLUMNS)
                rows = cur.fetchall()
            conn.close()
        except psycopg2.Error as exc:
            raise InfrastructureError(f"cannot read the columns to check policy coverage: {str(exc).strip()}",
                                      hint="check that the staging database is still running") from None
        for schema, table, column in rows:
            if ctx.policy_covers(schema, table, column):
                continue
            name = f"{schema}.{table}.{column}"
            yield Hit(f"column {name} exists after the upgrade but the anonymization policy does not cover "
                      f"it: the next strict snapshot will refuse to run", {"column": name})
