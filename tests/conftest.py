from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=150,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# CI_REQUIRE=torch,distributed (set by .ci/run, which installs them): a test skipped for
# want of one of these fails instead, so a leg that should run them cannot pass silently.
_REQUIRED = tuple(name for name in os.environ.get("CI_REQUIRE", "").split(",") if name)


def _required_but_skipped(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and any(repr(name) in str(report.longrepr) for name in _REQUIRED):
        report.outcome = "failed"
        report.longrepr = f"skipped, but CI_REQUIRE names what it needs: {report.longrepr}"


# wrappers: the report is changed before any plugin (the session's count, the terminal) sees it
@pytest.hookimpl(wrapper=True)
def pytest_collectreport(report: pytest.CollectReport) -> Generator[None, None, None]:
    _required_but_skipped(report)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> Generator[None, None, None]:
    _required_but_skipped(report)
    return (yield)
