"""Each fault case prints one line: the case, what was injected, what was
checked, and whether it held (the `fault` fixture fills it in)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tests"))

_reporter = None


def pytest_sessionstart(session):
    # Not in pytest_configure: the terminal reporter registers itself there.
    global _reporter
    _reporter = session.config.pluginmanager.get_plugin("terminalreporter")


@pytest.fixture
def fault(request):
    """Describe the case: fault["injected"] = "...", fault["checked"] = "..."."""
    info = {"case": request.node.name}
    request.node.user_properties.append(("fault", info))
    return info


def pytest_runtest_logreport(report):
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return
    for key, info in report.user_properties:
        if key == "fault" and _reporter is not None:
            verdict = "pass" if report.passed else "FAIL"
            _reporter.write_line(
                f"FAULT {info['case']} | injected: {info.get('injected', '?')} "
                f"| checked: {info.get('checked', '?')} | {verdict}"
            )
