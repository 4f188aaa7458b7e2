"""Pin the CPU code paths that the course's numbers depend on.

A spike's size is chaotic in the last bits of floating-point arithmetic: the same seed gave a
pre-clip gradient norm of 125, 190, 201 or 501 on one machine, depending only on which
vectorised kernels PyTorch and MKL picked for that processor (AVX-512, AVX2, ...). So the
course pins them, as it pins the thread count:

- ``ATEN_CPU_CAPABILITY=default``: PyTorch's own kernels (softmax, LayerNorm, GELU, AdamW, ...)
  take their portable path instead of the widest vector unit the CPU has;
- ``MKL_CBWR=COMPATIBLE``: MKL's matrix products take its portable SSE2 branch (MKL's
  "conditional numerical reproducibility"; it promises the same bits run after run, not across
  every vendor's processor);
- ``DNNL_MAX_CPU_ISA=SSE41``: the same for oneDNN, which serves some half-precision work.

The variables are read once, at the first operation that needs them, so they must be set before
any tensor work: ``import utils`` sets them (unless you set them yourself), and
``scripts/start.sh`` and ``scripts/test.sh`` export them for every kernel.

The pin makes a machine repeat its own runs bit for bit and narrows how many different results
exist, but it does not make every CPU agree: two cloud machines with this very pin gave the
canonical spike's gradient norm as 129.4 and 214.5. That is why the texts' numbers are those of a
named reference path, and the course's conclusions are tested on every path
(``utils/reference_path.py``). The price of the pin is speed: the portable kernels make a training
step about 2x slower than the AVX-512 ones (``benchmarks/bench_kernel_paths.py`` prints the ratio).
"""
from __future__ import annotations

import os

PINNED: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "DNNL_MAX_CPU_ISA": "SSE41",
}


def pin() -> None:
    """Set the pinned variables that are not set already (call before any tensor work)."""
    for name, value in PINNED.items():
        os.environ.setdefault(name, value)


def capability() -> str:
    """The kernel path PyTorch really uses now ("DEFAULT" when pinned; e.g. "AVX512" when not)."""
    import torch
    return torch.backends.cpu.get_cpu_capability()


def warning() -> str | None:
    """A sentence for the learner when the runs will not give the course's numbers, else None."""
    changed = {k: os.environ.get(k) for k, v in PINNED.items() if os.environ.get(k, "").lower() != v.lower()}
    cap = capability()
    if cap == "DEFAULT" and not changed:
        return None
    return (f"CPU kernels are not the course's pinned ones (PyTorch uses {cap}; changed: {changed}): "
            "runs still work, but their numbers will differ from the ones the texts quote. "
            "Restart the kernel and `import utils` before any tensor work.")
