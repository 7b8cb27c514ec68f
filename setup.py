"""Builds the optional C parts: the verifier of the fast path, its callback for planned
calls, and the compiled tests of rules' signatures; without a compiler the package still installs, every load takes the
strict engine and signatures are judged in Python.

``PICKLEFENCE_BUILD_EXTENSION=0`` installs without it on purpose, as on a machine with
no compiler (CI's leg for the strict-engine-only install)."""

import os

from setuptools import Extension, setup

build = os.environ.get("PICKLEFENCE_BUILD_EXTENSION", "1") != "0"
extensions = [
    Extension("picklefence._fastcheck", ["src/picklefence/_fastcheck.c"], optional=True),
    Extension("picklefence._signatures", ["src/picklefence/_signatures.c"], optional=True),
    Extension("picklefence._calls", ["src/picklefence/_calls.c"], optional=True),
]
setup(ext_modules=extensions if build else [])
