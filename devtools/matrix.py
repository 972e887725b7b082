"""``make test-matrix``: the DAG-integrity tests and one end-to-end training run on every other supported combination.

``make test`` runs the whole suite on the main combination (Python 3.11, Airflow 3.3, ``requirements.lock``).
The same lock installs on Python 3.12 and 3.13 (every pin has a wheel or pure-Python sdist for them); the oldest
supported Airflow minor, 3.2, has its own ``requirements-airflow-3.2.lock``. Each combination gets its own virtual
environment (``.venv-3.12``, ``.venv-3.13``, ``.venv-3.11-airflow-3.2``), installed by uv and again only when its
lock changes, and runs :data:`TESTS` there. The last line is ``MATRIX 3.12=passed 3.13=passed
3.11+airflow-3.2=passed``; the exit code is non-zero if any ran and failed, or, with ``--require``, if an
interpreter is missing.
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
# name -> (Python version, lock): the combinations make test does not run.
COMBINATIONS = {
    "3.12": ("3.12", ROOT / "requirements.lock"),
    "3.13": ("3.13", ROOT / "requirements.lock"),
    "3.11+airflow-3.2": ("3.11", ROOT / "requirements-airflow-3.2.lock"),
}
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


def ensure_venv(python: str, name: str, lock: Path, skip_bytecode: str | None = None) -> Path:
    """``.venv-{name}`` with ``lock`` installed, again only when the lock changed; compiled to bytecode but for
    the paths matching ``skip_bytecode`` (a regular expression), unless None."""
    venv = ROOT / f".venv-{name.replace('+', '-')}"
    stamp = venv / ".installed-from-lock"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return venv
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    # The main venv's uv (installed by `make install`) installs into this one: seconds, where pip took minutes.
    uv = Path(sys.executable).parent / "uv"
    target = str(venv / "bin" / "python")
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", target, "-r", str(lock)], check=True)
    if skip_bytecode is not None:  # bytecode as `make install` compiles it (the Makefile's NO_BYTECODE says why)
        compile_all = [target, "-m", "compileall", "-q", "-j", "0", "-x", skip_bytecode, str(venv / "lib")]
        subprocess.run(compile_all, check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(digest)
    return venv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(COMBINATIONS), help=f"of {', '.join(COMBINATIONS)}")
    parser.add_argument("--require", action="store_true", help="fail when an interpreter is missing")
    parser.add_argument("--no-bytecode", metavar="REGEX", help="compile the venvs to bytecode but paths matching this")
    args = parser.parse_args()
    outcomes: dict[str, str] = {}
    for name in args.names:
        version, lock = COMBINATIONS[name]
        python = interpreter(version)
        if python is None:
            outcomes[name] = "missing"
            print(f"== {name}: Python {version} not found on PATH or under ~/.pyenv/versions", flush=True)
            continue
        started = time.monotonic()
        print(f"== {name} ({python}): installing its venv from {lock.name}", flush=True)
        venv = ensure_venv(python, name, lock, args.no_bytecode)
        print(f"== {name}: pytest {' '.join(TESTS)}", flush=True)
        code = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:xdist", "-q", *TESTS], cwd=ROOT)
        outcomes[name] = "passed" if code.returncode == 0 else f"failed({code.returncode})"
        print(f"== {name}: {outcomes[name]} in {time.monotonic() - started:.0f} s", flush=True)
    print("MATRIX " + " ".join(f"{v}={o}" for v, o in outcomes.items()))
    failed = any(o.startswith("failed") for o in outcomes.values())
    missing = any(o == "missing" for o in outcomes.values())
    return 1 if failed or (missing and args.require) else 0


if __name__ == "__main__":
    sys.exit(main())
