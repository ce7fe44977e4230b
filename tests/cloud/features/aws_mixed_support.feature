Feature: A feature only partly runnable on AWS
  The Aurora failover runs on AWS; the zombie primary cannot (no AWS API freezes an RDS writer, says the
  target file). The second scenario is skipped with the target file's reason, and never started.

  @aws
  Scenario: The Aurora writer fails over
    Given the target is healthy
    And probes on app
    When the database primary crashes
    Then the service recovers within 30 seconds

  @aws @zombie
  Scenario: The database primary freezes
    Given the target is healthy
    And probes on app
    When the database primary freezes for 5 seconds
    Then the service recovers within 30 seconds
