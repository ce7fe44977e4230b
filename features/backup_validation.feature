@component @weekly @plan-4.4
Feature: Backup validation: automated restore tests
  DR plan 4.4 "Automated Restore Testing: Weekly", 6.2 "Component Recovery Tests: Database Recovery".
  The newest backup is restored into a scratch instance (never over the live one), checked against what the
  application wrote before it, timed against the plan's RTO and removed (docs/backup.md).

  Scenario: The newest PostgreSQL backup restores and holds every acknowledged write
    Given the target is healthy
    And the newest backup of postgres is younger than the plan's RPO
    When the newest backup of postgres is restored into a scratch instance
    Then the restore is complete within the plan's RTO
    And the restored data holds every write acknowledged before the backup

  Scenario: The newest Redis snapshot restores with every marker key
    Given the target is healthy
    When the newest backup of redis is restored into a scratch instance
    Then the restore is complete within the plan's RTO
    And the restored data holds every write acknowledged before the backup
