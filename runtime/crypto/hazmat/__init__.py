"""HAZMAT: scalars mod L, Ed25519 points over libsodium, encodings, hash-to-scalar, polynomials.

These functions do exactly what they say and nothing more. Protocol code should use
``runtime.crypto.frost``, ``dkg``, ``dkd``, ``reshare``, ``commit`` and ``seal``.
"""
