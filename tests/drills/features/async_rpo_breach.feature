Feature: Asynchronous replication with lag loses acknowledged writes
  Ground truth for the RPO path: replication is held back, writes keep being acknowledged by the primary
  alone, then the primary is killed. The writes of the lag window are lost; the plan's RPO for a primary
  failure is 0 (synchronous replication), so this drill must end "RPO breached".

  @plan-5.1.1
  Scenario: Replication lag, then the primary crashes
    Given the target is healthy
    And the database replication mode is async
    And the objective for component "postgresql" and scenario "primary-instance-failure"
    And probes on app and postgres
    And a writer at 20 writes/s
    When replication is held back for 8 seconds
    And 2 seconds pass
    And the database primary crashes
    Then the service recovers within the plan's RTO
    And the data loss is within the plan's RPO
