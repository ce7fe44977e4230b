@app
Feature: Application failure and bad deploy
  DR plan 1.3 "Application Failure", 5.3.1 "Service Failure" / "Deployment Failure" and 5.2.3 "Pod
  Failure": a replica dies and the load balancer routes around it; a broken build is rolled out and
  rolled back by the plan's procedure.

  @quarterly @component @plan-5.3.1
  Scenario: One application replica crashes
    Given the target is healthy
    And the objective for component "microservices" and scenario "service-failure"
    And probes on app
    When the fault "app-crash" is injected with replica=one
    Then the service recovers within the plan's RTO
    And the error rate during the fault is below 20 %

  @quarterly @component @plan-5.3.1
  Scenario: A broken build is deployed and rolled back
    Given the target is healthy
    And the objective for component "microservices" and scenario "deployment-failure"
    And probes on app
    When the fault "app-bad-deploy" is injected with version=9.9.9-broken
    And the recovery procedure "app-rollback" runs
    Then the service recovers within the plan's RTO
    And the target is healthy again
