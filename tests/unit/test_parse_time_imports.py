"""The modules the DAG files import at parse time stay light: no pandas, numpy, scikit-learn,
matplotlib or boto3."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("pandas", "numpy", "sklearn", "scipy", "boto3", "pyarrow", "joblib", "matplotlib")


@pytest.mark.parametrize("module", ["config", "layout", "notification", "contracts", "context", "params", "families"])
def test_module_imports_no_heavy_library(module):
    code = (
        f"import json, sys, include.bank_marketing.{module}; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert json.loads(out.stdout) == []
