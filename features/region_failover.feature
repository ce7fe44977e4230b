@region @full-dr
Feature: Region failover and failback
  DR plan 1.3 "Region Failure", 3.3 "Regional Failover Process" (steps 1-6) and 3.4 "Failback Process":
  the whole primary region goes down; the DR standby cluster is promoted, the DR app replica takes traffic;
  later the primary region is resynchronised and traffic switched back. Each scenario ends with the lab
  back in the primary region (failback), so the next one starts on a healthy lab.

  @plan-3.3
  Scenario: The primary region fails and the DR region takes over
    Given the target is healthy
    And the objective for component "postgresql" and scenario "region-failure"
    And probes on app
    And a writer at 20 writes/s
    When the fault "region-outage" is injected
    And the recovery procedure "region-failover" runs
    Then the service recovers within the plan's RTO
    And the data loss is within the plan's RPO
    When the faults are undone
    And the recovery procedure "region-failback" runs
    Then the target is healthy again

  @plan-3.4
  Scenario: Traffic fails back to the primary region after a regional failover
    Given the target is healthy
    And the objective for component "postgresql" and scenario "region-failure"
    And probes on app
    And a writer at 20 writes/s
    When the fault "region-outage" is injected
    And the recovery procedure "region-failover" runs
    And the faults are undone
    And the recovery procedure "region-failback" runs
    Then the target is healthy again
    And the postgresql cluster has a primary again
    And the component "pg-dr" is healthy again
    And the data loss is within the plan's RPO
