@component @s3 @plan-4.3.4
Feature: S3 object restore: from versioning and from the DR bucket
  DR plan 4.3.4 "S3 Data Restore" and 5.4.1 (S3 Storage: accidental deletion, object corruption, region
  failure). Only the harness's own object under the drill prefix is touched, on a versioned bucket; on the lab
  the bucket is the lab's S3 endpoint (moto's server mode) and the DR bucket is filled by the lab's replicator,
  its stand-in for cross-region replication (docs/lab.md#s3). Object RPO = LastModified of the newest good
  version lost minus that of the version restored (docs/aws-region.md#s3-objects).

  Scenario: A deleted object comes back from versioning, nothing lost
    Given the objective for component "s3" and scenario "accidental-deletion"
    And the drill object "orders/deleted.json" is written to S3 in 3 versions
    When the fault "object-delete" is injected with key=orders/deleted.json
    And the recovery procedure "s3-version-restore" runs with key=orders/deleted.json
    Then the object's data loss is within the plan's RPO

  Scenario: An overwritten object comes back from the DR bucket, losing what replication had not copied yet
    Given the objective for component "s3" and scenario "region-failure"
    And the drill object "orders/overwritten.json" is written to S3
    And the DR bucket holds a replica of the drill object "orders/overwritten.json"
    And the drill object "orders/overwritten.json" is written to S3
    When the fault "object-overwrite" is injected with key=orders/overwritten.json
    And the recovery procedure "s3-cross-region-restore" runs with key=orders/overwritten.json
    Then the object's data loss is within the plan's RPO
