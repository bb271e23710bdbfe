"""Minuet runtime: the thin layer generated role classes call into.

The sans-IO core (contract, codec, linear, session state) imports no trio; transports
(memory, TCP) and middleware sit at the edge.
"""
