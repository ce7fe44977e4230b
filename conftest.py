"""Root conftest for the Gherkin drills in features/ (pytest-bdd). Hooks stay thin: fixtures are the seams,
and steps in steps/ call the library. The harness's own tests keep their fixtures under tests/."""
