"""Crypto effects (see docs/crypto.md)."""
