"""The sdist installs on a clean virtualenv as a Dataflow worker would install it (--setup_file).

Beam's launcher builds an sdist from setup.py; each worker pip-installs it,
which compiles the Cython kernels there and pulls every dependency (the
pinned spaCy model included, once the PII stage needs it). This test does
exactly that in a fresh virtualenv and runs a stage from the installed
package, outside the checkout.
"""
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_sdist_installs_into_a_fresh_virtualenv_and_runs_a_stage(tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    [sdist] = dist.glob("demem-*.tar.gz")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(sdist)],
        capture_output=True, text=True, timeout=1200,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    probe = (
        "import dedup._exact_hash as k, dedup.exact as e\n"
        "assert 'site-packages' in k.__file__, k.__file__\n"
        "docs = [dict(id=str(i), text=t, source='s', position=i, metadata=None) for i, t in enumerate('aab')]\n"
        "kept, removed = e.exact_dedup(docs)\n"
        "print([d['id'] for d in kept], [r['kept_id'] for r in removed])\n"
    )
    result = subprocess.run([str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "['0', '2'] ['0']", result.stderr[-3000:]
