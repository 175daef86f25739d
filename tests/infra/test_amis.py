"""Where node AMI releases come from, and which pins are accepted."""

import pytest

from infra.amis import release_parameter, release_version_problem, root_volumes


def test_al2023_release_is_read_from_the_recommended_parameter_of_the_kubernetes_version():
    assert (
        release_parameter("AL2023", "1.35")
        == "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/release_version"
    )


def test_bottlerocket_release_is_read_from_its_image_version_parameter():
    assert release_parameter("BOTTLEROCKET", "1.34") == "/aws/service/bottlerocket/aws-k8s-1.34/x86_64/latest/image_version"


def test_unknown_ami_family_is_refused():
    with pytest.raises(ValueError, match="unknown AMI family 'AL2'"):
        release_parameter("AL2", "1.35")


@pytest.mark.parametrize(
    "family,release",
    [("AL2023", "1.35.3-20260801"), ("BOTTLEROCKET", "1.45.0"), ("BOTTLEROCKET", "1.45.0-5cd5ff76")],
)
def test_well_formed_pins_are_accepted(family, release):
    assert release_version_problem(family, "1.35", release) is None


def test_al2023_pin_of_another_kubernetes_version_is_refused():
    assert release_version_problem("AL2023", "1.35", "1.34.6-20260801") == (
        "this release is for Kubernetes 1.34 but cluster.kubernetes_version is 1.35: "
        "pin a release of 1.35 (or remove the pin)"
    )


@pytest.mark.parametrize("release", ["latest", "1.35", "1.35.3", "v1.35.3-20260801", "1.35.3-2026080"])
def test_malformed_al2023_pins_are_refused(release):
    assert release_version_problem("AL2023", "1.35", release).startswith(
        "expected an Amazon Linux 2023 EKS AMI release such as 1.35.3-20260801"
    )


def test_al2023_pin_is_refused_for_bottlerocket():
    assert release_version_problem("BOTTLEROCKET", "1.35", "1.35.3-20260801").startswith(
        "expected a Bottlerocket release such as 1.45.0"
    )


def test_al2023_root_volume_is_encrypted_gp3_of_the_configured_size():
    assert root_volumes("AL2023", 80) == [
        {
            "device_name": "/dev/xvda",
            "ebs": {"volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true", "volume_size": 80},
        }
    ]


def test_bottlerocket_encrypts_both_volumes_and_sizes_the_data_volume():
    os_volume, data_volume = root_volumes("BOTTLEROCKET", 80)
    assert os_volume == {
        "device_name": "/dev/xvda",
        "ebs": {"volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"},
    }
    assert data_volume["device_name"] == "/dev/xvdb"
    assert data_volume["ebs"]["volume_size"] == 80 and data_volume["ebs"]["encrypted"] == "true"
