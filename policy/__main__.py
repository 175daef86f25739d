"""The policy pack ``pulumi up --policy-pack policy`` loads. It only assembles the pack: the
policies live in ``policies.py`` (constructing ``PolicyPack`` starts the analyzer's gRPC server,
so nothing else may import this module)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies import PACK_NAME, all_policies

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=all_policies())
