"""RH405: a column exists after the upgrade that the anonymization policy does not cover."""

from typing import ClassVar, Iterator

import psycopg2

from ...errors import InfrastructureError
from ..base import DatabaseContext, DatabaseRule, Hit, register

_COLUMNS = """
SELECT n.nspname, c.relname, a.attname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND n.nspname NOT LIKE 'pg_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')  -- tables of extensions
  AND NOT (n.nspname = ANY(current_schemas(false)) AND c.relname = 'alembic_version')
ORDER BY 1, 2, a.attnum
"""


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
