"""Pure pieces of the Cluster component: scale-from-zero tags, add-on placement, endpoint from kubeconfig."""

import json

from infra.cluster import coredns_configuration, ebs_csi_configuration, kubeconfig_server, node_template_tags
from infra.scheduling import toleration


def test_node_template_tags_describe_the_label_capacity_type_and_taint_of_the_group():
    assert node_template_tags("batch", "SPOT") == {
        "k8s.io/cluster-autoscaler/node-template/label/workload": "batch",
        "k8s.io/cluster-autoscaler/node-template/label/eks.amazonaws.com/capacityType": "SPOT",
        "k8s.io/cluster-autoscaler/node-template/taint/workload": "batch:NoSchedule",
    }


def test_coredns_runs_on_the_tainted_system_group():
    config = coredns_configuration()
    assert config["nodeSelector"] == {"workload": "system"}
    assert toleration("system") in config["tolerations"]
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in config["tolerations"]


def test_ebs_csi_controller_runs_on_the_system_group_and_its_node_pods_everywhere():
    config = ebs_csi_configuration()
    assert config["controller"]["nodeSelector"] == {"workload": "system"}
    assert toleration("system") in config["controller"]["tolerations"]
    assert config["node"] == {"tolerateAllTaints": True}


def test_endpoint_is_the_server_of_the_kubeconfig():
    kubeconfig = json.dumps({"clusters": [{"name": "k", "cluster": {"server": "https://ABC.gr7.eu-west-1.eks.amazonaws.com"}}]})
    assert kubeconfig_server(kubeconfig) == "https://ABC.gr7.eu-west-1.eks.amazonaws.com"
