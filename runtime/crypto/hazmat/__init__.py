"""HAZMAT: low-level Ed25519 group arithmetic and FROST ciphersuite functions.

Nothing here validates protocol structure, checks single use of nonces, or identifies culprits
on its own. Protocol code should call ``runtime.crypto.frost`` / ``dkg`` / ``dkd`` / ``reshare``
instead. Scalars are Python ints mod L; points are their canonical 32-byte encodings.
"""
