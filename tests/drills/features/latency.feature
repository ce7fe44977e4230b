Feature: Slow is not down (ground truth for the probes' latency budget)
  The app's path to the database (the `db` fault proxy) gets a known latency for exactly 5 s, then the
  fault is undone. 150 ms: the app answers in ~0.16 s (7 ms healthy), within the probe's 1 s budget, slower
  than the lab's 100 ms degraded threshold: degraded for ~5 s, never down. 1.5 s: no answer within the
  budget, an outage of ~5 s.

  Scenario: 150 ms of latency slows the service down
    Given the target is healthy
    And probes on app answering within 1 second
    When the fault "network-latency" is injected with ms=150 target=db
    And 5 seconds pass
    And the faults are undone
    Then the service stays up, degraded at most 7 seconds
    And the service is degraded for at least 4 seconds
    And the p99 latency during the fault is below 1000 ms

  Scenario: 1.5 seconds of latency is an outage
    Given the target is healthy
    And probes on app answering within 1 second
    When the fault "network-latency" is injected with ms=1500 target=db
    And 5 seconds pass
    And the faults are undone
    Then the service recovers within 9 seconds
    And the outage lasts at least 4 seconds
