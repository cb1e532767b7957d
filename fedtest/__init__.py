"""fedtest's run: the lifecycle (record, pre-flight, bring-up, tests, teardown, publish), the pytest
plugin, the `fedtest` command and the project's one error root."""
