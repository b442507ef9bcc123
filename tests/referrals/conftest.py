import pytest


@pytest.fixture(params=[False, True], ids=["DEBUG=0", "DEBUG=1"])
def debug_on_and_off(request, settings):
    """Run a test with DEBUG off (the test runner's default) and on (`make run`): with DEBUG
    on, Django wraps database cursors in its debug cursor, which the import must work with."""
    settings.DEBUG = request.param
    return request.param
