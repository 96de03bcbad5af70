"""dlt's canonical layout: the config inside a source function, with a token from the
function's parameter, a credential written in a header, and an incremental resource
without columns whose start is a date though its cursor is a date-time (a test input of
`headwater new --from-rest-api`; parsed, never run)."""

import dlt
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources


@dlt.source
def github_source(access_token: str = dlt.secrets.value):
    config: RESTAPIConfig = {
        "client": {
            "base_url": "https://api.github.com/repos/dlt-hub/dlt/",
            "auth": {"type": "bearer", "token": access_token},
            "headers": {"X-Api-Key": "CANARY-github-key-7f3a"},
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": "issues",
                "endpoint": {
                    "path": "issues",
                    "data_selector": "$",
                    "paginator": "header_link",
                    "incremental": {
                        "start_param": "since",
                        "cursor_path": "updated_at",
                        "initial_value": "2024-01-25",
                    },
                },
            }
        ],
    }
    yield from rest_api_resources(config)
