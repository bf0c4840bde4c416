"""The ``cposim`` command. Each subcommand lives in its own module beside this one.

A subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a handler ``handler(args) -> int``. Bad input raises :class:`sim.CposimError`;
here it becomes one line on stderr and exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys

from sim import __version__, hugepages
from sim.errors import CposimError

# Order is the order of `cposim --help`.
SUBCOMMANDS = ["link", "topology", "collective", "trace", "run", "sweep", "figures", "bench",
               "astra"]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "--length -1m" (or "-inf m", "-x") must reach our own check and its message naming
        # the value, not argparse's "expected one argument": anything that starts with a single
        # "-" and is not one of our options (argparse matches those first) is a value.
        self._negative_number_matcher = re.compile(r"^-[^-]")
        self._has_negative_number_optionals = []

    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cposim", description="Simulate AI-training traffic over CPO, "
                     "pluggable optics and copper links.")
    parser.add_argument("--version", action="version", version=f"cposim {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"sim.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sim.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    hugepages.default_off()     # the command owns its process: see sim.hugepages
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="cposim: %(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CposimError as exc:
        print(f"cposim {args.command}: error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cposim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `cposim ... | head`: the reader left; exit quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
