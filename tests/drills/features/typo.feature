Feature: A catalog with mistakes
  Scenario: A typo in a step and an unknown fault
    Given the target is healthy
    When the databse primary crashes
    And the fault "db-primry-crash" is injected
    Then the service recovers within the plan's RTO
