"""The course's importable package, in layers. What learners study:

  utils.spikelab     data, tokenizer, mini-GPT, training loop, run log   (Phases 17-18, the run)
  utils.diagnosis    dashboard, failure patterns, stability check        (Phase 19)
  utils.postmortem   the post-mortem template, forms and checks          (Phase 19)
  utils.recovery     detectors, checkpoints, roll-back, Lightning        (Phase 20)

and the course's own tooling, which content never imports:

  utils.course       learners, notes, exercises, learner copies, grading, measured ranges

The modules at this level (spike, detectors, grading, claims, corpus, learner_copies,
stability_check, run_cache) are only the ``python -m utils.<name>`` entry points.
Importing the package sets nothing: runs use the CPU kernels PyTorch picks, one thread, and
their seed (see theory/why-runs-differ.md for why two machines still give two samples).
"""
