"""Target files: the shipped ones load (import checks included), and each kind of mistake is one clear error
naming the file, the fault and the activity — at load time, before anything runs."""

from __future__ import annotations

import pytest
import yaml
from chaos_helpers import ROOT

from harness.errors import ConfigError, HarnessError
from harness.faults import registry
from harness.targets import load_target


@pytest.mark.parametrize("name", ["local", "aws-staging.example", "k8s-staging.example"])
def test_shipped_target_files_load_and_map_every_fault(name):
    target = load_target(name)
    assert set(target.faults) == {f.name for f in registry.list()}
    mapped = [f for f, m in target.faults.items() if m.action is not None]
    assert mapped, name
    for fault in mapped:
        assert target.fault_activity(fault, {})["provider"]["module"]


def test_local_target_maps_every_fault_to_a_harness_action():
    target = load_target("local")
    for fault, m in target.faults.items():
        if registry.get(fault).lab_unsupported:  # a cloud-only fault: unsupported on the lab, with its reason
            assert m.action is None and m.unsupported == registry.get(fault).lab_unsupported, fault
            continue
        assert m.action is not None and m.action.module == "harness.chaos.actions", fault
        assert m.rollback is not None and m.rollback.accepts("id"), fault
    # the S3 object faults run on the lab's own S3 endpoint (harness/lab/s3.py), their key passed through
    delete = target.fault_activity("object-delete", {"key": "orders/1.json"})["provider"]
    assert (delete["func"], delete["arguments"]) == ("inject", {"fault": "object-delete", "key": "orders/1.json"})


def test_local_target_derives_its_faults_from_the_vocabulary():
    """targets/local.yaml names no fault: each one's activity is the one provider with the fault's name and
    every parameter of its declaration."""
    raw = yaml.safe_load((ROOT / "targets" / "local.yaml").read_text())
    assert "faults" not in raw and raw["every_fault"]["action"] == "harness.chaos.actions:inject"
    target = load_target("local")
    freeze = target.fault_activity("db-primary-freeze", {"seconds": "5"})["provider"]
    assert (freeze["func"], freeze["arguments"]) == ("inject", {"fault": "db-primary-freeze", "seconds": "5"})
    latency = target.fault_activity("network-latency", {"ms": "300", "target": "db"})["provider"]["arguments"]
    assert latency == {"fault": "network-latency", "ms": "300", "jitter": None, "target": "db", "seconds": None}


def _broken(tmp_path, fault, action):
    data = yaml.safe_load((ROOT / "targets" / "local.yaml").read_text())
    data["faults"] = {fault: {"action": action or "harness.chaos.actions:inject"}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_missing_module_is_named_with_file_fault_and_activity(tmp_path):
    path = _broken(tmp_path, "db-primary-crash", "harness.chaos.no_such_module:db_primary_crash")
    with pytest.raises(ConfigError) as err:
        load_target(path)
    msg = str(err.value)
    assert "broken.yaml" in msg and "'db-primary-crash'" in msg
    assert "harness.chaos.no_such_module:db_primary_crash" in msg and "cannot be imported" in msg


def test_missing_function_is_named_with_file_fault_and_activity(tmp_path):
    path = _broken(tmp_path, "cache-flush", "harness.chaos.actions:flush_everything")
    with pytest.raises(ConfigError) as err:
        load_target(path)
    msg = str(err.value)
    assert "broken.yaml" in msg and "'cache-flush'" in msg
    assert "harness.chaos.actions:flush_everything" in msg and "no function 'flush_everything'" in msg


def test_arguments_that_do_not_fit_the_function_are_refused(tmp_path):
    path = _broken(tmp_path, "db-primary-freeze", "harness.chaos.actions:start_component")  # takes no seconds
    with pytest.raises(ConfigError) as err:
        load_target(path)
    assert "'db-primary-freeze'" in str(err.value) and "seconds" in str(err.value)


def test_unknown_fault_name_is_an_error_with_a_suggestion(tmp_path):
    path = _broken(tmp_path, "db-primary-crsh", None)
    with pytest.raises(ConfigError) as err:
        load_target(path)
    msg = str(err.value)
    assert (
        "broken.yaml" in msg and "unknown fault 'db-primary-crsh'" in msg and "did you mean 'db-primary-crash'" in msg
    )


def test_unknown_target_name_lists_the_known_ones():
    with pytest.raises(HarnessError) as err:
        load_target("staging")
    assert "unknown target 'staging'" in str(err.value) and "local" in str(err.value)


def test_fault_parameters_fill_an_activity_template():
    target = load_target("aws-staging.example")
    activity = target.fault_activity("az-outage", {"zone": "eu-west-1a", "mode": "kill"})
    assert "eu-west-1a" in str(activity["provider"]["arguments"])
