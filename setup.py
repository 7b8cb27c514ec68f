"""Builds the optional C verifier of the fast path; without a compiler the package
still installs and every load takes the strict engine.

``PICKLEFENCE_BUILD_EXTENSION=0`` installs without it on purpose, as on a machine with
no compiler (CI's leg for the strict-engine-only install)."""

import os

from setuptools import Extension, setup

build = os.environ.get("PICKLEFENCE_BUILD_EXTENSION", "1") != "0"
extension = Extension("picklefence._fastcheck", ["src/picklefence/_fastcheck.c"], optional=True)
setup(ext_modules=[extension] if build else [])
