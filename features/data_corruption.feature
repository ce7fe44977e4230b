@postgresql @destructive
Feature: Database corruption and accidental deletion
  DR plan 1.3 "Database Corruption" / "Data Loss", 5.1.1 "Data Corruption" / "Accidental Deletion",
  recovered by point-in-time recovery (4.3.1; runbook 8.3 scenario 2) into a recovery instance.
  The integrity probe fails while the loads booked before the fault differ, so the damage is an outage until
  the recovered data is back (RTO). The database goes back to just before the bad change: the writer's rows
  after it are given up, so the RPO is the gap between its last surviving write and the fault.

  @quarterly @plan-4.3.1
  Scenario: A corrupting statement is recovered by point-in-time recovery
    Given the target is healthy
    And the objective for component "postgresql" and scenario "data-corruption"
    And 200 loads are booked through the app
    And probes on app and integrity
    And a writer at 20 writes/s
    When the fault "db-corruption" is injected with table=loads statement="UPDATE loads SET payload = '{}'"
    And the recovery procedure "pitr" runs
    Then the service recovers within the plan's RTO
    And the data loss is within 0.5 seconds

  @quarterly @plan-4.3.1
  Scenario: Rows deleted by mistake are recovered by point-in-time recovery
    Given the target is healthy
    And the objective for component "postgresql" and scenario "accidental-deletion"
    And 200 loads are booked through the app
    And probes on app and integrity
    And a writer at 20 writes/s
    When the fault "db-accidental-delete" is injected with table=loads where=true
    And the recovery procedure "pitr" runs
    Then the service recovers within the plan's RTO
    And the data loss is within 0.5 seconds
