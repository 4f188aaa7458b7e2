"""The CPU code paths the course's numbers depend on are pinned (utils/cpu_kernels.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from utils import cpu_kernels

REPO = Path(__file__).resolve().parent.parent


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in cpu_kernels.PINNED}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_import_utils_pins_the_kernels_before_any_tensor_work():
    assert _python("import torch, utils; torch.ones(3).softmax(0); "
                   "print(torch.backends.cpu.get_cpu_capability())") == "DEFAULT"
    assert _python("import utils.cpu_kernels as k; print(k.warning())") == "None"


def test_a_changed_kernel_path_is_reported():
    note = _python("import utils.cpu_kernels as k; print(k.warning())", MKL_CBWR="AUTO")
    assert "MKL_CBWR" in note and "numbers will differ" in note


def test_the_scripts_export_the_same_values():
    for script in ("scripts/test.sh", "scripts/start.sh"):
        text = (REPO / script).read_text(encoding="utf-8")
        line = next(l for l in text.splitlines() if l.startswith("export ATEN_CPU_CAPABILITY"))
        exported = dict(re.findall(r"(\w+)=(\S+)", line))
        assert exported == cpu_kernels.PINNED, script


def test_run_logs_record_the_kernel_path():
    from utils.config import config_for
    from utils.train import TrainingRun
    log = TrainingRun(config_for("healthy", steps=2)).train()
    assert log.meta["cpu_kernels"] == "DEFAULT"
