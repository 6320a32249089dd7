"""Deployment tier: container images built, the compose stack up, a campaign run through it.

Runs only under `make test-deploy` (SC_ASTERISK_TEST_DEPLOY=1): it needs root, podman,
podman-compose and ~10 minutes; `make test` skips it."""
import os

import pytest


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="deployment test: make test-deploy")
    for item in items:
        if item.get_closest_marker("deploy") and os.environ.get("SC_ASTERISK_TEST_DEPLOY") != "1":
            item.add_marker(skip)
