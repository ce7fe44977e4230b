"""Chaos and disaster-recovery drill harness: inject real failures, measure real RTO/RPO."""

__version__ = "0.1.0"
