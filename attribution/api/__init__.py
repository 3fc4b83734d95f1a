"""The JSON API at /api/v2/attribution/ (SPEC §8): thin views over the services and reports."""
