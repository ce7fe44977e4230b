Feature: The engines a Kubernetes cluster has: Chaos Mesh and Velero
  The catalog's network phrases on a Kubernetes target whose cluster has Chaos Mesh: each fault is one
  chaos-mesh.org object the harness creates and deletes. DR plan 4.3.3 "Kubernetes State Restore": the
  drill-owned namespace is deleted (namespace-delete) and the velero-restore procedure brings it back from its
  backup with the target file's options. The stand-in has no data plane: the stand-in app gives the ground
  truth the measurement must find (down while a NetworkChaos exists, or while the drill namespace has no API pod).

  @k8s @plan-6.3
  Scenario: The database pods are blackholed, then the fault is undone
    Given the target is healthy
    And probes on app
    When the fault "network-blackhole" is injected with target=db seconds=30
    And 1.5 seconds pass
    And the faults are undone
    Then the service recovers within 15 seconds
    And the outage lasts at least 1 seconds

  @k8s @plan-6.3
  Scenario: An abort guard stops the latency fault and its Chaos Mesh object is deleted
    Given the target is healthy
    And probes on app
    And the drill aborts when app fails more than 50% of probes for 1 seconds
    When the fault "network-latency" is injected with ms=1500 target=db
    And 60 seconds pass
    Then the service recovers within 60 seconds

  @k8s @plan-4.3.3
  Scenario: The drill namespace is deleted and restored from its Velero backup
    Given the target is healthy
    And probes on app
    When the fault "namespace-delete" is injected with namespace=freight-drill backup=drill-nightly
    And the recovery procedure "velero-restore" runs
    Then the service recovers within 30 seconds
    And the outage lasts at least 0.2 seconds
