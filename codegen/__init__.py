"""Minuet compiler: one subpackage per stage, in pipeline order (docs/architecture.md).

``core`` (the shared data model) -> ``frontend`` (load, parse, imports, validate) ->
``projection`` (project, fsm) -> ``backend`` (render, check, headers, views) ->
``analysis`` (verify, lint); ``pipeline``, ``generate`` and ``cli`` drive them."""
