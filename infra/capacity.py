"""How many batch Jobs fit on a node, and on the batch group at its maximum: the sizing arithmetic.

The numbers follow how the EKS-optimized AMIs configure the kubelet:

* kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of the third and fourth,
  0.25% of every further core.
* kube-reserved memory: 255 MiB + 11 MiB per pod the node may run (max pods, set by the VPC CNI
  from the instance's ENIs and IPs per ENI).
* hard eviction threshold: memory.available < 100 MiB.
* The kubelet sees a little less memory than the instance's nominal size (kernel, firmware):
  we count 3% of it as gone.
* Every batch node also runs the DaemonSets: aws-node (VPC CNI, 25m CPU), kube-proxy (100m CPU),
  ebs-csi-node (3 containers of 10m CPU / 40 MiB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KERNEL_MEMORY_FRACTION = 0.03
EVICTION_HARD_MIB = 100
DAEMONSET_CPU_MILLI = 25 + 100 + 30
DAEMONSET_MEMORY_MIB = 120
DAEMONSET_PODS = 3


@dataclass(frozen=True)
class InstanceType:
    vcpus: int
    memory_gib: int
    max_pods: int
    """Pods per node under the VPC CNI without prefix delegation (ENIs x (IPs per ENI - 1) + 2)."""


INSTANCE_TYPES = {
    "t3.large": InstanceType(2, 8, 35),
    "m5.large": InstanceType(2, 8, 29),
    "m6a.large": InstanceType(2, 8, 29),
    "m6i.large": InstanceType(2, 8, 29),
    "m6i.xlarge": InstanceType(4, 16, 58),
    "m6i.2xlarge": InstanceType(8, 32, 58),
    "m6i.4xlarge": InstanceType(16, 64, 234),
}


def kube_reserved_cpu_milli(vcpus: int) -> float:
    reserved = 0.0
    for core in range(1, vcpus + 1):
        reserved += 1000 * (0.06 if core == 1 else 0.01 if core == 2 else 0.005 if core <= 4 else 0.0025)
    return reserved


def kube_reserved_memory_mib(max_pods: int) -> int:
    return 255 + 11 * max_pods


def free_for_jobs(instance_type: str) -> tuple[int, int, int]:
    """(CPU millicores, memory MiB, pods) a node of this type leaves for Job pods."""
    spec = INSTANCE_TYPES[instance_type]
    cpu = 1000 * spec.vcpus - kube_reserved_cpu_milli(spec.vcpus) - DAEMONSET_CPU_MILLI
    memory = (
        spec.memory_gib * 1024 * (1 - KERNEL_MEMORY_FRACTION)
        - kube_reserved_memory_mib(spec.max_pods)
        - EVICTION_HARD_MIB
        - DAEMONSET_MEMORY_MIB
    )
    return int(cpu), int(memory), spec.max_pods - DAEMONSET_PODS


def jobs_per_node(instance_type: str, job_cpu_milli: int, job_memory_mib: int) -> int:
    cpu, memory, pods = free_for_jobs(instance_type)
    return min(cpu // job_cpu_milli, memory // job_memory_mib, pods)


def concurrent_jobs(instance_type: str, max_nodes: int, job_cpu_milli: int, job_memory_mib: int) -> int:
    """Jobs of one size running at once when the batch group is at ``max_nodes``."""
    return max_nodes * jobs_per_node(instance_type, job_cpu_milli, job_memory_mib)


def nodes_for(instance_type: str, jobs: int, job_cpu_milli: int, job_memory_mib: int) -> int:
    """Nodes the autoscaler adds for ``jobs`` pending Jobs of one size."""
    return math.ceil(jobs / jobs_per_node(instance_type, job_cpu_milli, job_memory_mib))
