"""``make test-matrix``: the DAG-integrity tests and one end-to-end training run on every other supported Python.

``make test`` runs the whole suite on the main interpreter (3.11). The same ``requirements.lock`` installs on
3.12 and 3.13 (every pin has a wheel or pure-Python sdist for them), so each gets its own virtual environment
``.venv-3.X`` from it (re-installed when the lock changes) and runs :data:`TESTS` there. The last line is
``MATRIX 3.12=passed 3.13=passed``; the exit code is non-zero if any ran and failed, or, with ``--require``,
if an interpreter is missing.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
VERSIONS = ("3.12", "3.13")
# The DAGs parse and follow the project's rules, and one DAG run on banking.csv (every family, the default
# grid) succeeds and publishes a model that loads and scores raw rows.
TESTS = (
    "tests/dags",
    "tests/e2e/test_training_dag.py::test_run_succeeds",
    "tests/e2e/test_training_dag.py::test_model_loads_after_sha256_check_and_scores_raw_rows",
)


def interpreter(version: str) -> str | None:
    """A working ``pythonX.Y``: on PATH, else pyenv's newest ``X.Y.*`` build; None when there is none. (A pyenv
    shim on PATH for a version that is not selected exits 127: each candidate is run once to be sure.)"""
    builds = sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}.*/bin/python{version}")), reverse=True)
    for candidate in [shutil.which(f"python{version}"), *builds]:
        if candidate and _runs_as(candidate, version):
            return candidate
    return None


def _runs_as(python: str, version: str) -> bool:
    check = [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    try:
        done = subprocess.run(check, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def ensure_venv(python: str, version: str) -> Path:
    """``.venv-X.Y`` with the locked requirements, installed again only when requirements.lock changed."""
    venv = ROOT / f".venv-{version}"
    stamp = venv / ".installed-from-lock"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return venv
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(LOCK)], check=True)
    stamp.write_text(digest)
    return venv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", default=list(VERSIONS), help="Python versions, e.g. 3.12 3.13")
    parser.add_argument("--require", action="store_true", help="fail when an interpreter is missing")
    args = parser.parse_args()
    outcomes: dict[str, str] = {}
    for version in args.versions:
        python = interpreter(version)
        if python is None:
            outcomes[version] = "missing"
            print(f"== Python {version}: not found on PATH or under ~/.pyenv/versions", flush=True)
            continue
        started = time.monotonic()
        print(f"== Python {version} ({python}): installing .venv-{version} from requirements.lock", flush=True)
        venv = ensure_venv(python, version)
        print(f"== Python {version}: pytest {' '.join(TESTS)}", flush=True)
        code = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:xdist", "-q", *TESTS], cwd=ROOT)
        outcomes[version] = "passed" if code.returncode == 0 else f"failed({code.returncode})"
        print(f"== Python {version}: {outcomes[version]} in {time.monotonic() - started:.0f} s", flush=True)
    print("MATRIX " + " ".join(f"{v}={o}" for v, o in outcomes.items()))
    failed = any(o.startswith("failed") for o in outcomes.values())
    missing = any(o == "missing" for o in outcomes.values())
    return 1 if failed or (missing and args.require) else 0


if __name__ == "__main__":
    sys.exit(main())
