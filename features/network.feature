@network
Feature: Network partition and latency
  DR plan 6.3 "Network Failure Simulation" and 5.5.1 "Route Table / NACL Issues": the zone holding the
  database primary is cut off from the other zones (nftables drop rules between the lab's network
  namespaces). The primary loses its quorum and must step down; a replica takes over. The cut is held
  for 30 s before recovery is judged: the demotion comes only when the leader key expires (Patroni ttl),
  and a measurement that stopped earlier would miss it.

  @smoke @quarterly @postgresql @plan-6.3
  Scenario: The zone of the database primary is partitioned from the other zones
    Given the target is healthy
    And the objective for component "vpc" and scenario "route-table-issues"
    And probes on app and postgres
    And a writer at 20 writes/s
    When the availability zone of the database primary is cut off from the other zones
    And 30 seconds pass
    Then the service recovers within the plan's RTO
    And no acknowledged writes are lost
    And the postgresql cluster has a primary again

  @pending @quarterly @plan-6.3
  Scenario: Latency on the path to the database
    Given the target is healthy
    And probes on app
    When the fault "network-latency" is injected with ms=300 target=db
    Then the service recovers within 60 seconds

  @pending @quarterly @plan-5.5.2
  Scenario: The path to the database is blackholed
    Given the target is healthy
    And probes on app
    When the fault "network-blackhole" is injected with target=db
    Then the service recovers within 60 seconds
