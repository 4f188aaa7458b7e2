"""The course's importable package: one small module per idea.

Phase 17 (data and model):   corpus, bpe, model
Phase 18 (optimizer):        schedule
The instrumented run:        config, data_order, train, runlog, symptoms, spike (CLI)
Learner notes:               learner, notes
Phase 19 (diagnosis):        dashboard, patterns, stability_check, postmortem
Phase 20 (recovery):         detectors, checkpoint, rollback, lightning_rollback
Grading:                     grading

Importing the package sets nothing: runs use the CPU kernels PyTorch picks, one thread, and
their seed (see theory/why-runs-differ.md for why two machines still give two samples).
"""
