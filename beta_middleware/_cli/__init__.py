"""The command line behind `python -m beta_middleware`: `check`, `known`, `demo` and `run`.

`beta_middleware/__main__.py` parses the arguments; these modules do the work, on top of
everything else. docs/design.md draws the layers.
"""
