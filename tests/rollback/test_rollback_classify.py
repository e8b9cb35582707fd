"""classify_downgrade on small revision files, loaded through Alembic's own ScriptDirectory."""

from __future__ import annotations

import textwrap

import pytest
from alembic.script import ScriptDirectory

from rehearse.rollback.classify import classify_downgrade

HEADER = '''
"""{name}"""
from alembic import op

revision = "{name}"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SELECT 1")
'''

BODIES = {
    "ok": 'def downgrade():\n    """Undo it."""\n    op.execute("SELECT 1")\n',
    "missing": "",
    "pass": 'def downgrade():\n    """Nothing to undo."""\n    pass\n',
    "ellipsis": "def downgrade():\n    ...\n",
    "raises": 'def downgrade():\n    """Irreversible."""\n    raise NotImplementedError("cannot undo")\n',
    "raises_after_check": 'def downgrade():\n    if True:\n        raise RuntimeError("no")\n',
}
EXPECTED = {"ok": "ok", "missing": "missing", "pass": "pass", "ellipsis": "pass", "raises": "raises",
            "raises_after_check": "ok"}


@pytest.mark.parametrize("name", list(BODIES))
def test_classify_downgrade(tmp_path, name):
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / f"{name}.py").write_text(HEADER.format(name=name) + "\n\n" + textwrap.dedent(BODIES[name]))
    script = ScriptDirectory(str(tmp_path)).get_revision(name)
    assert classify_downgrade(script) == EXPECTED[name]
