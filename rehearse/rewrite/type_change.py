"""ALTER COLUMN ... TYPE that rewrites the table -> expand / backfill / switch / contract (RH114, RH202).

This needs more than one release: the application must write both columns (the trigger does
it for old code) between expand and switch, and read the new one only after switch.
"""

from __future__ import annotations

from .base import BATCHED, COPY_RULES, RETRY, TXN, Release, Rewritten, Step, deparse, one_alter, register, relname


@register("expand-contract-type-change", "RH114", "RH202", "RH122")
def type_change(node, sql):
    """ALTER COLUMN TYPE rewrites the whole table and its indexes under ACCESS EXCLUSIVE."""
    cmd = one_alter(node, "AT_AlterColumnType")
    if cmd is None or cmd.def_.raw_default is not None or cmd.def_.collClause is not None:
        return None  # a USING expression or COLLATE: not handled, the original stays
    table, column = relname(node.relation), cmd.name
    new_type = deparse(cmd.def_.typeName)
    temp, old = f"{column}__new", f"{column}__old"
    short = table.split(".")[-1]
    fn, trigger = f"{short}_{column}_sync", f"{short}_{column}_sync"
    expand = Release("expand: add the new column and keep it in sync", (
        Step(f"ALTER TABLE {table} ADD COLUMN {temp} {new_type}", RETRY, "no rewrite: a nullable column"),
        Step(f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS "
             f"$$ BEGIN NEW.{temp} := NEW.{column}::{new_type}; RETURN NEW; END $$", TXN,
             "old application code keeps writing only the old column"),
        Step(f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {fn}()",
             RETRY, ""),
    ), downgrade=(
        Step(f"DROP TRIGGER IF EXISTS {trigger} ON {table}", TXN),
        Step(f"DROP FUNCTION IF EXISTS {fn}()", TXN),
        Step(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {temp}", TXN),
    ))
    backfill = Release("backfill the new column in batches", (
        Step(f"UPDATE {table} SET {temp} = {column}::{new_type}", BATCHED, "a commit per batch", table=table),
    ), downgrade=())
    switch = Release("switch: the new column takes the old one's name", (
        Step("", COPY_RULES, "NOT NULL and DEFAULT of the old column, on the new one", table=table,
             column=column, into=temp),
        Step(f"ALTER TABLE {table} RENAME COLUMN {column} TO {old}", RETRY, ""),
        Step(f"ALTER TABLE {table} RENAME COLUMN {temp} TO {column}", RETRY, ""),
        Step(f"DROP TRIGGER {trigger} ON {table}", TXN, ""),
        Step(f"DROP FUNCTION {fn}()", TXN, ""),
    ), downgrade=(
        # only when the old column is still there: after the contract's downgrade (the original
        # one, which changes the type back in place) there is nothing left to undo here
        Step(f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{table}'::regclass"
             f" AND attname = '{old}' AND NOT attisdropped) THEN"
             f" ALTER TABLE {table} RENAME COLUMN {column} TO {temp};"
             f" ALTER TABLE {table} RENAME COLUMN {old} TO {column};"
             f" ALTER TABLE {table} ALTER COLUMN {temp} DROP NOT NULL;"
             f" ALTER TABLE {table} ALTER COLUMN {temp} DROP DEFAULT;"
             f" CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS"
             f" 'BEGIN NEW.{temp} := NEW.{column}::{new_type}; RETURN NEW; END';"
             f" CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {table}"
             f" FOR EACH ROW EXECUTE FUNCTION {fn}(); END IF; END $$", TXN),
    ))
    contract = Release("contract: drop the old column (a later release)", (
        Step(f"ALTER TABLE {table} DROP COLUMN {old}", RETRY, "deploy only once no code reads the old column"),
    ), downgrade=None)  # the original downgrade() puts the old type back
    return Rewritten("expand-contract-type-change", ("RH114", "RH202"), (expand, backfill, switch, contract), (
        "THIS NEEDS MORE THAN ONE RELEASE: ship expand + backfill, deploy code that writes both columns, "
        "then switch, deploy code that reads the new one, then contract",
        "indexes, constraints and views on the old column are not carried over: add them to the expand step",
        "the contract revision's downgrade is the original one: it changes the type back with a rewrite",
    ))
