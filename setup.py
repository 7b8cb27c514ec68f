"""Builds the optional C verifier of the fast path; without a compiler the package
still installs and every load takes the strict engine."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("picklefence._fastcheck", ["src/picklefence/_fastcheck.c"], optional=True)])
