"""The application's models as the test pretends they are: child has no `extra` column (drift)."""
import sqlalchemy as sa

metadata = sa.MetaData()
parent = sa.Table("parent", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("name", sa.String(100), nullable=False),
                  sa.Index("ix_parent_name", "name"))
child = sa.Table("child", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id"), nullable=False),
                 sa.Column("note", sa.Text))
