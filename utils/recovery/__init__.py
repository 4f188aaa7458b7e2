"""Automatic recovery (Phase 20): spike detectors and their calibration, checkpoints, the
roll-back loop and the PyTorch Lightning callbacks.

- ``detectors``          one detector per module, their course defaults and their evaluation
                         (``python -m utils.detectors``); ``traces`` the labelled traces they are
                         scored on; ``tail_fit`` the tail extrapolation of the budget detector;
- ``calibration``        the detectors on the course's real runs (labels, threshold curves, facts);
- ``checkpoint``         the one training-state snapshot and restore, and checkpoints on disk;
- ``rollback``           the roll-back loop around the plain training loop, and its named runs;
- ``lightning_module``   the course run (and a tiny example) as LightningModules;
- ``lightning_rollback`` the same recovery inside ``Trainer.fit`` (``RollbackOnSpike``);
- ``lightning_runlog``   the run log of a ``Trainer.fit`` (``RunLogCallback``), for the dashboard.
"""
