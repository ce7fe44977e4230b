Feature: A partition held long enough to interrupt the drill in it
  Ground truth for signals (issue 16, point 1): the zone of the database primary is cut off from the other
  zones (nftables drop rules in three namespaces) and the scenario sits in the cut for 30 s. The tests send
  SIGTERM or SIGINT a few seconds into the cut: the drops must be gone when `drill run` exits.

  Scenario: The zone of the database primary is cut off for 30 seconds
    Given the target is healthy
    And probes on app
    When the availability zone of the database primary is cut off from the other zones
    And 30 seconds pass
    Then the service recovers within 300 seconds
