"""Back end: state machines -> Python module text (render), the libcst/mypy gate (check),
generation into a project with headers and drift checks (generate, headers), readable views."""
