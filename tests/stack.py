"""The development stack as a session-scoped pytest fixture, on free loopback ports.

``tests/conftest.py`` registers this module as a plugin (``pytest_plugins``), so any
test just names the fixture::

    def test_something(stack):
        requests_get(stack.url + "/api/v1/index.json",
                     headers={"Authorization": f"Bearer {stack.tokens['read']}"})

``stack`` is a frozen :class:`site_builder.deploy.devstack.Stack` with (stable interface):

``url``
    the proxy, e.g. ``http://127.0.0.1:41234`` (site at ``/``, JSON API at ``/api/v1/``)
``remote_url``
    the DVC HTTP remote through the proxy (``<url>/dvc``), holding the sample data
``tokens``
    ``{"read": ..., "write": ..., "none": ...}``: Gafaelfawr-style tokens with the read
    scope, read + write scopes, and no scope
``site_dir``, ``remote_dir``, ``run_dir``
    the built site served, the (copied) remote folder, the folder of config, pids, logs
``auth_url``, ``auth_requests()``
    the dev auth service itself, and how many auth requests it has answered
``stop()``
    stops it (the fixture does this at the end of the session)

Real nginx (Debian), real ``deploy/dev/gafaelfawr_dev.py`` and ``deploy/dev/dvc_upload.py``;
the site is built from this repository with ``pz build``. The sample remote needs
``make data`` (the GPL object of one product is fetched there).

``from tests.stack import stack`` also works (ruff then wants ``# noqa: F811`` on the
test functions); the stack is started once per test session either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from site_builder.deploy.devstack import Stack, start_stack

REPO = Path(__file__).resolve().parent.parent


_started: list[Stack] = []


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running stack for the whole test session (one, however many modules import the fixture)."""
    if _started:
        yield _started[0]
        return
    running = start_stack(REPO, tmp_path_factory.mktemp("stack"))
    _started.append(running)
    try:
        yield running
    finally:
        _started.clear()
        running.stop()
