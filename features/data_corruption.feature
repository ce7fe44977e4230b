@postgresql @destructive
Feature: Database corruption and accidental deletion
  DR plan 1.3 "Database Corruption" / "Data Loss", 5.1.1 "Data Corruption" / "Accidental Deletion",
  recovered by point-in-time recovery (4.3.1; runbook 8.3 scenario 2) into a recovery instance.

  @pending @quarterly @plan-4.3.1
  Scenario: A corrupting statement is recovered by point-in-time recovery
    Given the target is healthy
    And the objective for component "postgresql" and scenario "data-corruption"
    And probes on app
    When the fault "db-corruption" is injected with table=loads statement="UPDATE loads SET payload = '{}'"
    And the recovery procedure "pitr" runs
    Then the service recovers within the plan's RTO

  @pending @quarterly @plan-4.3.1
  Scenario: Rows deleted by mistake are recovered by point-in-time recovery
    Given the target is healthy
    And the objective for component "postgresql" and scenario "accidental-deletion"
    And probes on app
    When the fault "db-accidental-delete" is injected with table=loads where=true
    And the recovery procedure "pitr" runs
    Then the service recovers within the plan's RTO
