"""Reading a run: the 8-panel dashboard, the classic failure patterns, the stability check and
the comparison of variants (Phase 19)."""
