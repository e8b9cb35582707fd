"""The layers hold: edges over api over pipeline over independent stages over the shared layer.

The contracts live in pyproject.toml ([tool.importlinter]); this runs import-linter on them so
`make test` fails when a stage reaches into another, or a lower layer imports a higher one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a test dependency: pip install -e '.[test]'"
    proc = subprocess.run([exe, "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True,
                          cwd=str(REPO), timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
