"""Runnable examples of Minuet protocols."""
