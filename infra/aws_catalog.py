"""Facts about AWS read from data the SDKs ship, never from a list we keep by hand.

* Regions: botocore's ``partitions.json`` (the region list of every AWS partition that boto3 and
  the AWS CLI resolve endpoints with).
* EC2 instance types: the ``InstanceType`` enum of botocore's EC2 service model (the API's own list
  of the types ``RunInstances`` and managed node groups accept).
* Availability zones of a region: EC2's instance-type offerings per zone as moto ships them
  (``moto/ec2/resources/instance_type_offerings/availability-zone/<region>.json.gz``, generated from
  ``DescribeInstanceTypeOfferings``). Only some regions are covered; ``region_zones`` says so by
  returning ``None``. A region can gain zones after the data was generated: the deploy-time lookup
  (``aws.get_availability_zones``) stays the authority, this is what the offline plan answers with.

Everything here is read once per process and cached.
"""

from __future__ import annotations

import difflib
import gzip
import importlib.util
import json
import re
from functools import lru_cache
from importlib import metadata
from pathlib import Path


def _botocore_data() -> Path:
    # botocore's data directory, found without importing botocore (its import costs about 0.4 s,
    # which the offline plan would pay for two JSON files).
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("botocore is not installed (it is pinned in requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@lru_cache(maxsize=1)
def regions() -> dict[str, str]:
    """Every AWS region (name -> partition id) of every partition botocore knows."""
    document = json.loads((_botocore_data() / "partitions.json").read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for partition in document["partitions"]:
        for name in partition["regions"]:
            if not name.endswith("-global"):  # aws-global, aws-cn-global...: endpoint aliases, not regions
                found[name] = partition["id"]
    return found


def region_problem(region: str) -> str | None:
    """Why ``region`` is not an AWS region (with the closest name), or None when it is one."""
    known = regions()
    if region in known:
        return None
    close = difflib.get_close_matches(region, sorted(known), n=1, cutoff=0.75)
    hint = f"did you mean {close[0]}? " if close else ""
    return (
        f"{hint}expected an AWS region such as eu-west-1: one of the {len(known)} regions of botocore "
        f"{botocore_version()}'s partitions.json"
    )


@lru_cache(maxsize=1)
def ec2_instance_types() -> frozenset[str]:
    """The EC2 API's instance types (``InstanceType`` enum of botocore's EC2 service model).

    The model is 4 MB of JSON: the enum is decoded on its own (a tenth of the time of the whole
    document), from the newest API version as botocore's loader picks it.
    """
    latest = sorted(p for p in (_botocore_data() / "ec2").iterdir() if p.is_dir())[-1]
    text = gzip.decompress((latest / "service-2.json.gz").read_bytes()).decode("utf-8")
    shape = re.search(r'"InstanceType":\{\s*"type":"string",\s*"enum"', text)
    if shape is not None:
        decoded, _ = json.JSONDecoder().raw_decode(text, shape.start() + len('"InstanceType":'))
        return frozenset(decoded["enum"])
    return frozenset(json.loads(text)["shapes"]["InstanceType"]["enum"])


def instance_type_problem(instance_type: str) -> str | None:
    """Why ``instance_type`` is not an EC2 instance type (with the closest ones), or None."""
    known = ec2_instance_types()
    if instance_type in known:
        return None
    close = difflib.get_close_matches(instance_type, sorted(known), n=3, cutoff=0.8)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"{hint}not an EC2 instance type of botocore {botocore_version()}'s EC2 API model"


def rds_instance_class_problem(instance_class: str) -> str | None:
    """Why ``instance_class`` is not shaped like an RDS instance class, or None.

    RDS instance classes are EC2 instance types with a ``db.`` prefix (db.m7g.large runs on an
    m7g.large); botocore's RDS model has no list of them, so the EC2 list is the citable check.
    Whether RDS offers the class for PostgreSQL in the region is only known to AWS
    (``DescribeOrderableDBInstanceOptions``); the connection arithmetic in infra/pgbouncer.py further
    limits the classes to those whose memory it knows.
    """
    if not instance_class.startswith("db."):
        return "expected an RDS instance class: db.<EC2 instance type>, e.g. db.m7g.large"
    problem = instance_type_problem(instance_class[3:])
    if problem:
        close = [f"db.{t}" for t in difflib.get_close_matches(instance_class[3:], sorted(ec2_instance_types()), n=3, cutoff=0.8)]
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        return (
            f"{hint}expected an RDS instance class: db.<EC2 instance type>, and {instance_class[3:]} is not an "
            f"EC2 instance type of botocore {botocore_version()}'s EC2 API model"
        )
    return None


def _moto_zone_file(region: str) -> Path | None:
    # Located without importing moto (its import costs about a second).
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    return root / "ec2" / "resources" / "instance_type_offerings" / "availability-zone" / f"{region}.json.gz"


@lru_cache(maxsize=None)
def region_zones(region: str) -> tuple[str, ...] | None:
    """The availability zone names of ``region`` from moto's shipped EC2 data; None when not covered."""
    path = _moto_zone_file(region)
    if path is None or not path.exists():
        return None
    offerings = json.loads(gzip.decompress(path.read_bytes()))
    return tuple(sorted({item["Location"] for item in offerings}))


def zone_data_source() -> str:
    """Where ``region_zones`` comes from, for labels."""
    return f"moto {metadata.version('moto')}'s EC2 instance-type offerings data"


def botocore_version() -> str:
    return metadata.version("botocore")
