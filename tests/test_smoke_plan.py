"""Both stack files produce a plan with the network in it."""


def test_both_plans_build(dev_plan, prod_plan):
    assert len(dev_plan.of_type("aws:ec2/subnet:Subnet")) == 6
    assert len(prod_plan.of_type("aws:ec2/subnet:Subnet")) == 9
