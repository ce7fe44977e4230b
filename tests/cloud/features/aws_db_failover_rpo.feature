Feature: The database primary fails on AWS while a writer commits to it
  The catalog phrases of features/database_failover.feature on an AWS target: the fault is the target file's
  db-primary-crash activity (an Aurora cluster failover); the writer's rows are read back after recovery and
  every acknowledged write that is missing is lost. The RPO target is deliberately tight (0.5 s) so that a
  failover that loses more than half a second of acknowledged writes is a breach.

  @aws @postgresql
  Scenario: The Aurora writer fails over under a steady writer
    Given the target is healthy
    And probes on app and postgres
    And a writer at 20 writes/s to postgres
    When the database primary crashes
    Then the service recovers within 30 seconds
    And the data loss is within 0.5 seconds
