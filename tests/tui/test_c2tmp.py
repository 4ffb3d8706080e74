from tests.tui.conftest import *
from tests.tui.test_language import walk
import pytest
@pytest.mark.parametrize("size", [(80, 24), (160, 40)])
async def test_x(make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        seen = await walk(app, pilot)
    for k, v in seen.items():
        print("=====", k, size)
        print("\n".join(l.rstrip() for l in v.splitlines()))
