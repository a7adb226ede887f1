from __future__ import annotations

import pytest

from tests.letters.builders import Decided, approved_round


@pytest.fixture
def decided(catalogue, researcher, admin_user) -> Decided:
    return approved_round(owner=researcher, admin=admin_user)
