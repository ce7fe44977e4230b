Feature: An abort guard stops a drill the target cannot take
  Ground truth for the Gherkin abort guard: the app's path to the database is blackholed for 120 s and the
  scenario means to sit in it for 60 s, but the guard allows the app at most 2 s of failing probes. The guard
  must undo the fault within seconds, end the scenario as aborted, and the recovery must still be measured.

  Scenario: A blackhole the guard will not tolerate
    Given the target is healthy
    And probes on app
    And the drill aborts when app fails more than 50% of probes for 2 seconds
    When the fault "network-blackhole" is injected with target=db seconds=120
    And 60 seconds pass
    Then the service recovers within 300 seconds
