"""The Gherkin step vocabulary (docs/steps.md lists every phrase). Loaded by the root conftest.py."""
