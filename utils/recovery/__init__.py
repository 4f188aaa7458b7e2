"""Automatic recovery (Phase 20): spike detectors and their calibration, checkpoints, the
roll-back loop and the PyTorch Lightning callback."""
