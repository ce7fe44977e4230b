@app @dependency
Feature: Dependency failure
  DR plan 5.3.1 "Dependency Failure": the application loses its database or its cache. The lab's app
  reports itself unhealthy while a dependency is gone (reads bypass the cache: degraded, not down); the
  measured RTO runs from the loss of the dependency until the app is stably healthy again, so it
  includes the time the dependency was held away.

  @quarterly @component @postgresql @plan-5.3.1
  Scenario: The application loses its database for 10 seconds
    Given the target is healthy
    And the objective for component "microservices" and scenario "dependency-failure"
    And probes on app
    When the fault "dependency-failure" is injected with dependency=db
    And 10 seconds pass
    And the faults are undone
    Then the service recovers within the plan's RTO

  @quarterly @component @redis @plan-5.3.1
  Scenario: The application loses its cache for 10 seconds
    Given the target is healthy
    And the objective for component "microservices" and scenario "dependency-failure"
    And probes on app
    When the fault "dependency-failure" is injected with dependency=cache
    And 10 seconds pass
    And the faults are undone
    Then the service recovers within the plan's RTO
