import dlt
from dlt.sources.rest_api import rest_api_source

source = rest_api_source({
    "client": {
        "base_url": "https://api.example.com",
        "auth": {
            "type": "oauth2",
            "client_id": dlt.secrets["client_id"],
            "client_secret": dlt.secrets["client_secret"],
            "token_url": "https://login.example.com/oauth2/token",
            "grant_type": "client_credentials",
            "scope": "https://api.example.com/.default"
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
                "path": "/v1/resource/users",
                "data_selector": "value",
                "paginator": {
                    "type": "cursor",
                    "cursor_value": "{{ response.get('@odata.nextLink', {}) }}",
                    "stop_condition": "{{ not response.get('@odata.nextLink', {}) }}"
                }
            }
        },
        {
            "name": "groups",
            "endpoint": {
                "path": "/v1/resource/groups",
                "data_selector": "value",
                "paginator": {
                    "type": "cursor",
                    "cursor_value": "{{ response.get('@odata.nextLink', {}) }}",
                    "stop_condition": "{{ not response.get('@odata.nextLink', {}) }}"
                }
            }
        }
        // Additional resources can be added here following the same pattern
    ]
})
