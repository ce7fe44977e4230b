Feature: A drill that holds one fault for a few seconds
  A short real drill (issue 16, points 2, 3, 9): the app's path to the database is blackholed for 4 s and
  the drill stays 12 s, long enough for a few other commands to run while it holds the drill lock.

  Scenario: The app's database path is blackholed for 4 seconds
    Given the target is healthy
    And probes on app
    When the fault "network-blackhole" is injected with target=db seconds=4
    And 12 seconds pass
    Then the service recovers within 300 seconds
