"""The data model every stage shares: spans, diagnostics and their code registry, the global
AST, local types, type expressions, naming rules, and the one printer of refs, peers and statements."""
