@database
Feature: Database failover (PostgreSQL and Redis)
  DR plan 5.1.1 "Primary Instance Failure" (automatic failover to a standby, RPO 0 with synchronous
  replication) and 5.1.3 "Primary Node Failure" / "Cache Flush" (Sentinel failover; rebuild from the
  source data), exercised as in 6.3 "Database Failure Simulation".

  @smoke @quarterly @component @postgresql @plan-5.1.1
  Scenario: The PostgreSQL primary crashes
    Given the target is healthy
    And the objective for component "postgresql" and scenario "primary-instance-failure"
    And probes on app and postgres
    And a writer at 20 writes/s
    When the database primary crashes
    And the recovery procedure "auto-failover" runs
    Then the service recovers within the plan's RTO
    And no acknowledged writes are lost
    And the postgresql cluster has a primary again

  @quarterly @component @postgresql @plan-5.1.1
  Scenario: The PostgreSQL primary hangs and comes back (zombie primary)
    Given the target is healthy
    And the objective for component "postgresql" and scenario "primary-instance-failure"
    And probes on app and postgres
    And a writer at 20 writes/s
    When the database primary freezes for 30 seconds
    Then the service recovers within the plan's RTO
    And no acknowledged writes are lost

  @smoke @quarterly @component @redis @plan-5.1.3
  Scenario: The Redis primary crashes
    Given the target is healthy
    And the objective for component "redis" and scenario "primary-node-failure"
    And probes on redis
    And a writer at 20 writes/s to redis
    When the cache primary crashes
    Then the service recovers within the plan's RTO
    And the data loss is within the plan's RPO
    And the redis cluster has a primary again

  @component @redis @plan-5.1.3
  Scenario: The cache is flushed and rebuilt from the database
    Given the target is healthy
    And the objective for component "redis" and scenario "cache-flush"
    And probes on app and redis
    When the fault "cache-flush" is injected
    And the recovery procedure "cache-rebuild" runs
    Then the service recovers within the plan's RTO
