"""The detection parts' public surface, and that importing them stays light."""

from __future__ import annotations

import subprocess
import sys

import distillguard.accounts as accounts
import distillguard.decisions as decisions
import distillguard.networks as networks


def test_public_surfaces_are_declared() -> None:
    for module in (accounts, networks, decisions):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    assert {"detect", "calibrate", "Calibration", "Policy", "Detection", "SubjectDecision",
            "DetectionConfig", "DecisionLogSink"} <= set(decisions.__all__)  # fmt: skip


def test_importing_detection_does_not_import_igraph_or_sklearn() -> None:
    code = (
        "import sys, distillguard.accounts, distillguard.networks, distillguard.decisions;"
        "print(','.join(m for m in ('igraph', 'sklearn', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
