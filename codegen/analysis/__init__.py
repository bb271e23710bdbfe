"""Analyses over the results: bounded verification of projected machines (verify) and the
linearity lint of user role code (lint)."""
