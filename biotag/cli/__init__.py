"""biotag's command line: a thin layer over the public API (the library never imports it); one module per
command group, put together in :mod:`biotag.cli.main`."""

from biotag.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
