@az
Feature: Availability zone failure
  DR plan 1.3 "Single AZ Failure", 5.1.1 / 5.1.3 "AZ Failure" and 6.3 "AZ Failure Simulation": every
  process of one availability zone goes down; the platform must keep serving from the other two zones
  within the plan's RTO, without losing acknowledged writes.

  @smoke @quarterly @postgresql @plan-5.1.1
  Scenario: The availability zone of the database primary goes down
    Given the target is healthy
    And the objective for component "postgresql" and scenario "az-failure"
    And probes on app and postgres
    And a writer at 20 writes/s
    When the availability zone of the database primary fails
    Then the service recovers within the plan's RTO
    And no acknowledged writes are lost
    And the postgresql cluster has a primary again

  @quarterly @postgresql @plan-5.1.1
  Scenario: The availability zone of the database primary hangs instead of dying
    Given the target is healthy
    And the objective for component "postgresql" and scenario "az-failure"
    And probes on app and postgres
    And a writer at 20 writes/s
    When the fault "az-outage" is injected with zone=@primary-zone mode=freeze
    Then the service recovers within the plan's RTO
    And no acknowledged writes are lost

  @quarterly @redis @plan-5.1.3
  Scenario: The availability zone of the cache primary goes down
    Given the target is healthy
    And the objective for component "redis" and scenario "az-failure"
    And probes on redis
    And a writer at 20 writes/s to redis
    When the fault "az-outage" is injected with zone=@cache-primary-zone
    Then the service recovers within the plan's RTO
    And the data loss is within the plan's RPO
    And the redis cluster has a primary again
