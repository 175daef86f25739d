"""The sizing arithmetic of docs/cluster.md: the numbers there are these."""

from infra.capacity import concurrent_jobs, free_for_jobs, jobs_per_node, kube_reserved_cpu_milli, kube_reserved_memory_mib, nodes_for


def test_kubelet_reservations_of_an_m6i_2xlarge():
    assert kube_reserved_cpu_milli(8) == 90  # 60 + 10 + 2 x 5 + 4 x 2.5
    assert kube_reserved_memory_mib(58) == 893  # 255 + 11 x 58


def test_what_an_m6i_2xlarge_leaves_for_jobs():
    assert free_for_jobs("m6i.2xlarge") == (7755, 30671, 55)


def test_prod_batch_group_at_max_holds_140_jobs_of_1_vcpu_4_gib():
    assert jobs_per_node("m6i.2xlarge", 1000, 4096) == 7
    assert concurrent_jobs("m6i.2xlarge", 20, 1000, 4096) == 140


def test_jobs_of_2_vcpu_8_gib_fit_three_per_node_but_slightly_smaller_ones_four():
    assert concurrent_jobs("m6i.2xlarge", 20, 2000, 8192) == 60
    assert concurrent_jobs("m6i.2xlarge", 20, 1900, 7500) == 80


def test_a_job_that_asks_for_the_whole_nominal_node_never_fits():
    assert jobs_per_node("m6i.2xlarge", 8000, 32768) == 0


def test_dev_batch_group_at_max_holds_three_small_jobs():
    assert concurrent_jobs("m6i.large", 3, 1000, 4096) == 3


def test_nodes_added_for_a_burst():
    assert nodes_for("m6i.2xlarge", 30, 1000, 4096) == 5
