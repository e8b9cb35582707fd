"""Safe rewrites: for findings with a known safe pattern, the Alembic code that avoids them,
rehearsed on the same data as the original and compared side by side.

``plan.plan_rewrite`` picks the rewriters (one module per pattern, registered in ``base``),
``codegen`` writes the revision files, ``compare`` proves them on a copy of the snapshot.
"""
