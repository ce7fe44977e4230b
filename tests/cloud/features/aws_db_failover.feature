Feature: The database primary fails on AWS
  The same catalog phrases as features/database_failover.feature, run on an AWS target: the fault is the
  target file's db-primary-crash activity (an Aurora cluster failover), the outage is what the app's probe sees.

  @aws @postgresql
  Scenario: The Aurora writer fails over and the app recovers
    Given the target is healthy
    And probes on app
    When the database primary crashes
    Then the service recovers within 30 seconds
    And the outage lasts at least 0.5 seconds
