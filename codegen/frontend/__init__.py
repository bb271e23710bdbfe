"""Front end: YAML text -> located nodes -> AST (load, parse, guards), imports resolved, validated."""
