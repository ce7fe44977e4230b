Feature: A drill with a manual procedure step
  auto-failover ends with a manual step ("tell the on-call channel"): without a terminal and without --yes no
  one can confirm it, so the run must be refused before the primary is crashed (issue 16, point 10).

  Scenario: The primary crashes and the runbook is followed
    Given the target is healthy
    And probes on app
    When the database primary crashes
    And the recovery procedure "auto-failover" runs
    Then the service recovers within 300 seconds
