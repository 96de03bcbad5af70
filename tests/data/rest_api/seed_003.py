import dlt
from dlt.sources.rest_api import rest_api_source

source = rest_api_source({
    "client": {
        "base_url": "https://api.example.com",
        "auth": {
            "type": "oauth2",
            "client_id": dlt.secrets["client_id"],
            "client_secret": dlt.secrets["client_secret"],
            "token_url": dlt.secrets["authorization_endpoint"]
        }
    },
    "resource_defaults": {
        "primary_key": "id",
        "write_disposition": "merge"
    },
    "resources": [
        {
            "name": "users",
            "endpoint": {
                "path": "/v1/users",
                "data_selector": "users",
                "paginator": {
                    "type": "cursor",
                    "limit": 30,
                    "cursor_param": "next_page_token"
                }
            }
        },
        {
            "name": "meetings",
            "endpoint": {
                "path": "/v1/meetings/{parent_id}",
                "data_selector": "meetings",
                "paginator": {
                    "type": "single_page"
                }
            }
        }
    ]
})
