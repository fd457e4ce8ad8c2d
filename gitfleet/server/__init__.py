"""The server guard: the id rules as a ``pre-receive`` hook in a bare repository and as
``gitfleet check RANGE`` for CI, for pushes that never pass through the push gate."""
