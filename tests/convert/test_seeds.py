"""The five seeds' rest_api configs, literally as written (``//`` comments,
``dlt.secrets[...]``, ``"type": "oauth2"``, ``{{ response... }}`` templates, a
``{parent_id}`` placeholder), load the APIs of the connectors built from them: each
config is copied out of its seed into a ``.py`` file, read as a user would hand it
over, and run with ``headwater.from_rest_api`` against that connector's simulator."""

from __future__ import annotations

import re
from pathlib import Path

import headwater
import pytest
from headwater.convert.config_file import load_config_file
from headwater.convert.model import SettingRef
from headwater.convert.rest_api import convert_rest_api
from headwater_analytics.events import ANALYTICS_EVENTS
from headwater_analytics.meetings import ANALYTICS_MEETINGS
from headwater_analytics.odata import ANALYTICS_ODATA
from headwater_directory.hooks import DIRECTORY
from headwater_hr.hooks import HR

pytestmark = pytest.mark.usefixtures("headwater_env")

#: The seeds' config blocks, copied literally (a user's .py file): the seeds live in
#: the steering repository's shared/ folder, which a test run may not have.
DATA = Path(__file__).resolve().parents[1] / "data" / "rest_api"
SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


def seed_file(number: str) -> Path:
    return DATA / f"seed_{number}.py"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seeds (shared/seeds) are not beside the repo")
@pytest.mark.parametrize("number", ["000", "001", "002", "003", "004"])
def test_the_copied_configs_are_the_seeds_blocks_literally(number):
    (text,) = [p.read_text() for p in SEEDS.glob(f"{number}_*.txt")]
    block = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    assert seed_file(number).read_text() == block


def ids(rows, key="id"):
    return sorted({row[key] for row in rows})


@pytest.mark.parametrize(
    ("number", "connector", "tables"),
    [
        ("000", DIRECTORY, {"directory_users": "directory_users"}),
        ("001", ANALYTICS_ODATA, {"users": "users", "groups": "groups"}),
        ("002", ANALYTICS_EVENTS, {"resource_name": "events"}),
        ("004", HR, {"resource_name": "employees"}),
    ],
)
def test_seed_config_loads_every_record(number, connector, tables, api_simulator, tmp_path):
    config = load_config_file(seed_file(number))
    sim = api_simulator(connector)
    for table, served in tables.items():
        got = headwater.testing.rows_of(
            headwater.from_rest_api(
                config, name=f"seed_{number}", resources=[table], **sim.settings
            )
        )
        assert ids(got) == ids(sim.data[served]), table


def test_seed_003_loads_users_and_each_users_meetings(api_simulator, tmp_path):
    config = load_config_file(seed_file("003"))
    assert config["client"]["auth"]["token_url"] == SettingRef("authorization_endpoint")
    converted = convert_rest_api(config, "seed_003")
    meetings = converted.connector.resource("meetings")
    assert meetings.parent.resource == "users" and meetings.parent.placeholder == "parent_id"
    sim = api_simulator(ANALYTICS_MEETINGS, records={"users": 65})
    settings = dict(sim.settings)
    # the config reads the token URL as dlt.secrets["authorization_endpoint"]
    settings["authorization_endpoint"] = settings.pop("token_url")
    source = headwater.from_rest_api(config, name="seed_003", **settings)
    rows = headwater.testing.rows_of(source)
    users = [r for r in rows if "email" in r and "topic" not in r]
    assert ids(users) == ids(sim.data["users"])  # 3 pages of 30: the cursor followed
    cursors = [r.query.get("next_page_token") for r in sim.requests_for("users")]
    assert cursors[0] is None and all(cursors[1:]) and len(cursors) == 3
    served = {(user, m["id"]) for user, ms in sim.data["meetings"].items() for m in ms}
    meetings = [r for r in rows if "topic" in r]
    # each meeting carries its user's id, as the placeholder was filled
    assert {(r["_users_id"], r["id"]) for r in meetings} == served
