"""The plan pass alone (plan.plan_features): which features the residual holds, at which stage
and depth each is computed, from what, and who reads it."""

from __future__ import annotations

from rasp.compiler.blocks import Feature
from rasp.compiler.graph import analyze
from rasp.compiler.heads import Reading
from rasp.compiler.plan import Plan, Stage, plan_features
from rasp.compiler.valuesets import Facts, Limits

DEFINITIONS = """
first = aggregate(select(indices, 0, ==), tokens);
either = aggregate(select(tokens, tokens, ==) or select(indices, 0, ==), tokens);
both = aggregate(select(tokens, tokens, ==) and select(indices, 0, ==), tokens);
"""


def planned(target) -> Plan:
    return plan_features(analyze(target), Facts(list("abc"), 4, Limits()))


def stages(plan: Plan) -> dict[str, tuple[Stage, int, list[str]]]:
    """Each feature by its block's name: its stage, depth and leaves."""
    return {s.title: (s.stage, s.depth, [leaf.title for leaf in s.leaves])
            for s in plan.specs.values()}


def test_maps_of_tokens_or_of_indices_alone_are_embeddings(node):
    assert stages(planned(node('tokens == "a"'))) == {
        'tokens == "a"': (Stage.TOKEN, 0, ["tokens"])}
    assert stages(planned(node("indices + 1"))) == {
        "indices + 1": (Stage.POSITION, 0, ["indices"])}


def test_a_chain_of_maps_of_both_is_one_table_of_layer_0(node):
    # the two comparisons are fused: the table reads tokens and indices themselves
    assert stages(planned(node('(tokens == "a") or (indices == 0)'))) == {
        'tokens == "a" or indices == 0': (Stage.FFN, 0, ["tokens", "indices"]),
        "tokens": (Stage.TOKEN, 0, ["tokens"]),
        "indices": (Stage.POSITION, 0, ["indices"])}


def test_an_aggregate_is_a_head_and_a_map_of_it_a_table_of_its_layer(node):
    target = node('(first == tokens) and (tokens == "b")', DEFINITIONS)
    assert stages(planned(target)) == {
        "indices": (Stage.POSITION, 0, ["indices"]),
        'first == tokens and tokens == "b"': (Stage.FFN, 1,  # leaves in creation order
                                               ["tokens", "first", 'tokens == "b"']),
        "tokens": (Stage.TOKEN, 0, ["tokens"]),
        'tokens == "b"': (Stage.TOKEN, 0, ["tokens"]),  # a leaf of depth 0: an embedding
        "first": (Stage.HEAD, 1, [])}


def test_readers_name_the_conjunct_and_the_side(node):
    plan = planned(node("first", DEFINITIONS))
    selector = node("first").selector
    assert plan.readers[Feature.of(node("indices"))] == [Reading(selector, 0)]  # the keys
    assert plan.readers[Feature.of(node("tokens"))] == [None]  # the aggregate's values
    assert plan.readers[Feature.of(node("first"))] == [None]  # the target


def test_several_s_ops_on_one_side_are_a_joint_feature(node):
    either = node("either", DEFINITIONS)
    plan = planned(either)
    joint = Feature.together([node("tokens"), node("indices")])
    spec = plan.specs[joint]
    assert (spec.title, spec.stage, spec.depth) == ("(tokens, indices)", Stage.FFN, 0)
    assert plan.readers[joint] == [Reading(either.selector, 0)]


def test_the_conjuncts_of_an_and_read_their_own_blocks(node):
    plan = planned(node("both", DEFINITIONS))
    assert not any(f.joint for f in plan.specs)
    assert set(stages(plan)) == {"tokens", "indices", "both"}
