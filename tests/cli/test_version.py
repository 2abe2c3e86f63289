"""`prtrace --version`: the installed version, answered before Typer, Rich or pydantic load."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tests.conftest import run_prtrace


def test_version_is_the_installed_one(tmp_path: Path) -> None:
    result = run_prtrace("--version", cwd=tmp_path, check=True)
    assert result.stdout == f"prtrace {version('prtrace')}\n"


def test_version_stays_off_the_heavy_imports() -> None:
    probe = (
        "import sys; sys.argv = ['prtrace', '--version']\n"
        "from prtrace_cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "heavy = sorted({'typer', 'click', 'rich', 'pydantic', 'httpx'} & set(sys.modules))\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stderr.strip() == "[]"
