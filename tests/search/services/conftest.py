import pytest

from tests.search.dispatch_world import build_world


@pytest.fixture
def world(settings):
    """The small dispatch world, with units capped at two open tasks each."""
    settings.DISPATCH = {**settings.DISPATCH, "MAX_OPEN_TASKS_PER_UNIT": 2}
    return build_world()
