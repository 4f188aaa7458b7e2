"""The 7-section post-mortem: its template, the learner's forms, checks against the run log
and the verification of a remediation (Phase 19)."""
