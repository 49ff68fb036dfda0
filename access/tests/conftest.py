"""Fixtures: the console's seeded data and a logged-in client, shared with its tests."""
from incidents.tests.conftest import alice, htmx  # noqa: F401 (seeded comes from incidents.tests.fixtures)
