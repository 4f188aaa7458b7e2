"""Which floating-point path the course's quoted numbers were measured on, and whether yours is it.

The runs are chaotic in the last bits of floating-point arithmetic: one differently rounded
product early on grows, step by step, into a visibly different run. Pinning the kernels
(``utils/cpu_kernels.py``) makes a machine repeat itself, but two CPUs can still round
differently: MKL's portable branch is not bit-identical on every processor. Measured: with the
same code, seed and pinned kernels, the canonical run's pre-clip gradient norm at step 312 was
129.4 on one 2-core cloud machine and 214.5 on another (an AMD EPYC, Zen 4).

So the course separates two kinds of statement:

- a **number** in a text (a claim span, ``utils/claims.py``) is the value of the *reference* run
  below. ``tests/test_claims.py`` checks every one of them exactly on a machine that is on the
  reference path; elsewhere it checks only the facts that no training touches (corpus counts,
  vocabulary, model size) and says why it skipped the rest;
- a **conclusion** (the spike is ≥ 15× its gradient-norm baseline, a control keeps the damage,
  a remediation removes it, float16 overflows and never recovers, ...) must hold on every path.
  The behaviour tests assert those, with margins measured on several kernel paths.

A machine is on the reference path when its ``broken`` run (seed 42) ends with exactly the
reference parameters: the CRC-32 of every weight after the last step (``param_hash``).
"""
from __future__ import annotations

REFERENCE = {
    "variant": "broken",
    "seed": 42,
    "param_hash": "d904fde0",      # CRC-32 of every parameter after step 420 (utils.train.param_fingerprint)
    "machine": "AMD EPYC (Zen 4), 2 cores, 1 thread, pinned kernels (ATEN default, MKL COMPATIBLE)",
}


def fingerprint() -> str:
    """This machine's fingerprint: the final ``param_hash`` of the reference variant's run."""
    from .train import run_variant
    return run_variant(REFERENCE["variant"], seed=REFERENCE["seed"]).steps["param_hash"][-1]


def on_reference_path() -> bool:
    """True when this machine reproduces the reference run bit for bit."""
    return fingerprint() == REFERENCE["param_hash"]


def describe() -> str:
    """One sentence for a learner: is this machine on the reference path, and what follows."""
    mine = fingerprint()
    if mine == REFERENCE["param_hash"]:
        return (f"This machine is on the course's reference floating-point path (final parameter CRC {mine}): "
                "every number in the texts is the number your runs give.")
    return (f"This machine computes on another floating-point path than the course's reference "
            f"(final parameter CRC {mine}, reference {REFERENCE['param_hash']} on {REFERENCE['machine']}): "
            "your runs give other numbers than the texts quote (the runs are chaotic), "
            "while the conclusions hold; see README, 'Why your numbers may differ'.")
