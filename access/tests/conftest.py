"""Fixtures: the console's seeded data and a logged-in client, shared with its tests."""
from incidents.tests.conftest import alice, htmx  # noqa: F401 (seeded comes from incidents.tests.fixtures)
from integrations.tests.conftest import slack, slack_receiver  # noqa: E402, F401 (the Slack rows of the table)


def pytest_terminal_summary(terminalreporter):
    """After the run: the role x action table test_permissions observed (for the closing note)."""
    from access.tests import test_permissions

    if test_permissions.OBSERVED:
        terminalreporter.section("who may do what (observed)")
        for line in test_permissions.roles_table(test_permissions.OBSERVED):
            terminalreporter.write_line(line)
