"""The ``picklefence`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picklefence", description="Load and write pickles safely.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="load a safe pickle and refuse a hostile one")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo.run()
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
