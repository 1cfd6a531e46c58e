"""`pip install .` compiles the kernels, and the packages import from outside the checkout."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_pip_install_compiles_kernels_and_imports_outside_the_repo(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    kernels = sorted(p.name for p in (target / "dedup").glob("_*.so"))
    assert any(name.startswith("_exact_hash.") for name in kernels), kernels
    assert (target / "pipelines" / "default.yaml").exists()
    probe = (
        "import dedup, sanitize, pipelines, schemas\n"
        "from dedup import _exact_hash\n"
        "from dedup.hashing import text_digest\n"
        "from pipelines.config import default_config_text\n"
        "assert dedup.__file__.startswith(%r), dedup.__file__\n"
        "assert len(text_digest('x')) == 32 and 'exact_dedup' in default_config_text()\n"
        "print('ok')\n" % str(target)
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
