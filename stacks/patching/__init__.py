"""Nodes that patch themselves: the ``patch-nodes`` procedure, its decision rules and the ``patch-status`` view.

* ``releases``: pure rules: release order, the proven-release record, which release a stack takes, patch lag.
* ``preflight``: pure checks that a node group may roll now, and the canary Job manifest.
* ``aws``: the boto3 calls (SSM release parameters and records, EKS state, the lag metric).
* ``kube``: the Kubernetes API calls (nodes, PodDisruptionBudgets, the canary Job, Airflow workloads).
* ``procedure``: ``patch-nodes``: decide, preflight, roll through the Automation API, prove, record.
* ``status``: ``patch-status``: per node group what runs, what is available, the lag and the next action.
* ``simulation``: the patch-lag simulation over the real EKS AMI release history (``make patch-lag``).
"""
