"""Projection: global protocol -> one local type per role (merge, composition of calls),
and local types -> state machines."""
