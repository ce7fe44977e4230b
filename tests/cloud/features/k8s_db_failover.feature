Feature: The database primary fails on Kubernetes
  The same catalog phrases as features/database_failover.feature, run on a Kubernetes target: the fault is the
  target file's db-primary-crash activity (the primary pod is deleted and its controller replaces it), the
  outage is what the app's probe sees, and the new primary is the Ready pod matching db_primary_selector.

  @k8s @postgresql
  Scenario: The primary pod is deleted and the app recovers
    Given the target is healthy
    And probes on app
    When the database primary crashes
    Then the service recovers within 30 seconds
    And the outage lasts at least 0.5 seconds
    And the postgresql cluster has a primary again
