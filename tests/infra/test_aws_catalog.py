"""The AWS facts the config checks use are botocore's and moto's shipped data, read correctly."""

from __future__ import annotations

import botocore.loaders
import botocore.session

from infra import aws_catalog


def test_regions_are_those_of_botocores_partitions():
    partitions = botocore.loaders.create_loader().load_data("partitions")["partitions"]
    expected = {r: p["id"] for p in partitions for r in p["regions"] if not r.endswith("-global")}
    assert aws_catalog.regions() == expected
    assert expected["eu-west-1"] == "aws" and expected["cn-north-1"] == "aws-cn"
    # Every region botocore resolves an EKS endpoint in is a region here.
    session = botocore.session.get_session()
    assert set(session.get_available_regions("eks")) <= set(expected)


def test_instance_types_are_the_ec2_models_enum_as_botocore_loads_it():
    model = botocore.session.get_session().get_service_model("ec2")
    assert aws_catalog.ec2_instance_types() == frozenset(model.shape_for("InstanceType").enum)


def test_problems_name_the_closest_real_name():
    assert aws_catalog.region_problem("eu-west-1") is None
    assert aws_catalog.region_problem("eu-wset-1").startswith("did you mean eu-west-1? expected an AWS region")
    assert aws_catalog.instance_type_problem("m6i.large") is None
    assert aws_catalog.instance_type_problem("m6i.larg").startswith("did you mean m6i.large")
    assert aws_catalog.rds_instance_class_problem("db.m7g.large") is None
    assert aws_catalog.rds_instance_class_problem("m7g.large").startswith("expected an RDS instance class: db.")


def test_zones_are_the_real_zone_names_where_the_data_covers_the_region():
    assert aws_catalog.region_zones("eu-west-1") == ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    assert aws_catalog.region_zones("us-east-1") == tuple(f"us-east-1{c}" for c in "abcdef")
    assert aws_catalog.region_zones("cn-north-1") is None  # not in moto's data: the plan labels its invention
