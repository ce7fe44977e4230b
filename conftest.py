"""Root conftest for the Gherkin drills in features/ (pytest-bdd). Hooks stay thin: the plugin
(harness/drills/plugin.py) holds the fixtures and hooks, and steps in steps/ call the library.
The harness's own tests keep their fixtures under tests/."""

pytest_plugins = ["harness.drills.plugin", "steps.given", "steps.when", "steps.then", "steps.backup", "steps.s3"]
