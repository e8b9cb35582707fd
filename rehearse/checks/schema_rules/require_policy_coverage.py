"""RH405: a column exists after the upgrade that the anonymization policy does not cover."""

from typing import ClassVar

from ..base import Rule, register


@register
class RequirePolicyCoverage(Rule):
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
