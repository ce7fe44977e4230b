Feature: A drill that holds one fault for a few seconds
  The shortest real drill (issue 16, points 2, 3, 4): the app's path to the database is blackholed for 4 s,
  long enough for a second command to run while it holds the drill lock.

  Scenario: The app's database path is blackholed for 4 seconds
    Given the target is healthy
    And probes on app
    When the fault "network-blackhole" is injected with target=db seconds=4
    And 4 seconds pass
    Then the service recovers within 300 seconds
