"""Compiled models in PyTorch and TransformerLens (rasp.interop), and their activations and
traces (rasp.compiler.activations), checked against the numpy forward pass and the
interpreter: every example-library program the compiler accepts at max_len 8, and random
programs. TransformerLens runs on the programs whose exported bridge is small (under
LENS_PARAMETERS parameters: every example but the three of addition, long_addition's carries
and longsum, most_frequent and sort_by_most_freq; the smaller ones cover every part of the
export, two-hidden-layer blocks included), to keep the suite quick."""

from __future__ import annotations

import functools
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from rasp import RaspError
from rasp.compiler import Model
from rasp.compiler.activations import (
    EMBED,
    OneOf,
    attention_stage,
    mlp_stage,
    reference_forward,
    run,
)
from rasp.compiler.graph import SOp, evaluate, graph_below, input_array
from rasp.compiler.verify import inputs_of_length, same

sys.path.insert(0, str(Path(__file__).resolve().parent / "compiler"))
from test_compile_examples import REFUSED, programs, session, vocab_for  # noqa: E402
from test_compile_random import compiled_sops  # noqa: E402

from program_strategies import cases  # noqa: E402

torch = pytest.importorskip("torch")
interop = pytest.importorskip("rasp.interop")
lens_arrays = pytest.importorskip("rasp.interop.lens").lens_arrays

MAX_LEN = 8
LENS_PARAMETERS = 1_000_000
EXAMPLES = [p for p in programs() if p[1] not in REFUSED]


@functools.cache
def compiled(stem: str, expr: str):
    return session(stem).compile(expr, vocab_for(stem, expr), MAX_LEN)


def batches(model: Model, lengths: tuple[int, ...] = (1, 3, 6, 8)) -> list[np.ndarray]:
    """Token ids of the verification's inputs (12 structured ones and 12 random, at most 24)
    of each length (at most max_len), one batch per length."""
    rng = random.Random(0)
    found = []
    for n in sorted({min(n, model.max_len) for n in lengths}):
        inputs = inputs_of_length(model.vocab, n, 12, 64, rng)[:24]
        found.append(np.array([model.token_ids(t) for t in inputs], dtype=np.int64))
    return found


def equal_outputs(model: Model, got: np.ndarray, want: np.ndarray) -> None:
    """Categorical outputs identical, numerical ones within 1e-9."""
    if model.config["output"]["kind"] == "numerical":
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    elif got.shape[-1]:  # categorical (an output of no values has nothing to compare)
        assert (got.argmax(-1) == want.argmax(-1)).all()
        assert model.decode(got) == model.decode(want)


def check_torch(model: Model) -> None:
    module = interop.to_torch(model)
    for ids in batches(model):
        want = reference_forward(model.arrays, model.config, ids)
        got = module(torch.tensor(ids)).detach().numpy()
        equal_outputs(model, got, want)
    # the residual after every layer, and every head's pattern, as ours
    ids = batches(model)[-1][:4]
    with torch.no_grad():
        _, cache = module.run_with_cache(torch.tensor(ids))
    seen = _ours(model, ids)
    for layer in range(len(model.config["layers"])):
        np.testing.assert_allclose(cache[f"blocks.{layer}.hook_resid_post"].numpy(),
                                   seen.stages[mlp_stage(layer)], rtol=1e-9, atol=1e-9)
    for (layer, h), pattern in seen.patterns.items():
        np.testing.assert_allclose(cache[f"blocks.{layer}.attn.hook_pattern"][:, h].numpy(),
                                   pattern, rtol=1e-9, atol=1e-9)


def _ours(model: Model, ids: np.ndarray):
    """Our forward pass with every activation kept."""
    return run(model.arrays, model.config, ids)


def check_lens(model: Model) -> None:
    """The bridge's outputs, residuals after every block, attention logits (the scale folded
    exactly) and patterns equal ours; its padded heads write exactly 0."""
    config = interop.transformer_lens_config(model)
    lens = interop.to_transformer_lens(model)
    d = model.config["d_model"]
    for ids in batches(model, (2, 8)):
        with_bos = torch.tensor(np.concatenate([np.zeros((len(ids), 1), np.int64), ids], 1))
        with torch.no_grad():
            out, cache = lens.run_with_cache(with_bos)
        seen = _ours(model, ids)
        equal_outputs(model, out[:, 1:].detach().numpy(), seen.y)
        for b, where in enumerate(config["rasp_blocks"]):
            layer, part = where["layer"], where["part"]
            resid = cache[f"blocks.{b}.hook_resid_post"].numpy()
            stage = attention_stage(layer) if part == "first" else mlp_stage(layer)
            if stage not in seen.stages:  # a first part of a layer without heads
                stage = _before(model, layer)
            np.testing.assert_allclose(resid[..., :d], seen.stages[stage], rtol=1e-9,
                                       atol=1e-9)
            if part != "first":  # the extra dimensions are back at 0
                assert not resid[..., d:].any()
            heads = model.config["layers"][layer]["heads"] if part != "second" else 0
            _check_heads(model, cache, b, layer, heads, seen)


def _before(model: Model, layer: int) -> str:
    """The stage whose residual layer `layer`'s heads read."""
    return EMBED if layer == 0 else mlp_stage(layer - 1)


def _check_heads(model: Model, cache, b: int, layer: int, heads: int, seen) -> None:
    z = cache[f"blocks.{b}.attn.hook_z"].numpy()  # [B, pos, head, d_head]
    assert z.shape[2] == interop.transformer_lens_config(model)["n_heads"]
    assert not z[:, :, heads:].any(), "a padded head writes something"
    # TransformerLens 4.3's hook_attn_scores holds the pattern: the logits from hook_q, hook_k
    q, k = (cache[f"blocks.{b}.attn.hook_{m}"].numpy() for m in "qk")  # [B, pos, head, d]
    scale = interop.transformer_lens_config(model)["attn_scale"]
    for h in range(heads):
        x = seen.stages[_before(model, layer)]
        head = [model.arrays[f"layer{layer}.head{h}.{m}"] for m in ("query", "key")]
        logits = (x @ head[0]) @ (x @ head[1]).transpose(0, 2, 1)
        np.testing.assert_allclose(q[:, :, h] @ k[:, :, h].transpose(0, 2, 1) / scale,
                                   logits, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(cache[f"blocks.{b}.attn.hook_pattern"][:, h].numpy(),
                                   seen.patterns[layer, h], rtol=1e-9, atol=1e-12)


def check_trace(model: Model, target: SOp, inputs: list[list]) -> int:
    """trace equals the interpreter's value of every block's s-op (a block of classes: the
    class holds it); returns how many blocks were compared. Joint blocks and titles shared
    by several s-ops are not compared (their names do not say which s-ops they hold)."""
    titles: dict[str, list[SOp]] = {}
    for node in graph_below(target):
        if isinstance(node, SOp):
            titles.setdefault(node.title, []).append(node)
    numerical = {b["name"] for b in model.config["layout"] if b["encoding"] == "numerical"}
    compared = 0
    for tokens in inputs:
        for name, values in model.trace(tokens).items():
            nodes = titles.get(name, [])
            if len(nodes) != 1:
                continue
            try:
                want = np.broadcast_to(np.asarray(evaluate(nodes[0], input_array([tokens]), {}),
                                                  dtype=object), (len(tokens),)).tolist()
            except RaspError:
                continue
            for got, w in zip(values, want):
                options = got if isinstance(got, OneOf) else [got]
                assert got is not None and any(same(v, w, name in numerical) for v in options), \
                    (name, tokens, values, want)
            compared += 1
    return compared


@pytest.mark.parametrize("stem, expr", EXAMPLES)
def test_torch_equals_numpy_on_examples(stem, expr):
    check_torch(compiled(stem, expr).model)


@pytest.mark.parametrize("stem, expr", EXAMPLES)
def test_trace_equals_the_interpreter_on_examples(stem, expr):
    c = compiled(stem, expr)
    inputs = inputs_of_length(c.model.vocab, 6, 4, 0, random.Random(1))[:8]
    assert check_trace(c.model, c.target, inputs) > 0


@pytest.mark.parametrize("stem, expr", EXAMPLES)
def test_transformer_lens_equals_numpy_on_examples(stem, expr):
    model = compiled(stem, expr).model
    if sum(a.size for a in lens_arrays(model).values()) > LENS_PARAMETERS:
        pytest.skip("a large bridge: its parts are covered by the smaller programs")
    check_lens(model)


@pytest.mark.parametrize("stem, expr", EXAMPLES)
def test_reused_residuals_export_and_trace_exactly(stem, expr):
    """A model whose dimensions hold several s-ops in turn (--reuse-residual): PyTorch and
    TransformerLens compute it as numpy does, and its trace reads each s-op where it is live."""
    c = session(stem).compile(expr, vocab_for(stem, expr), MAX_LEN, reuse=True)
    if not c.saving.pays:
        pytest.skip("reuse would not shrink it: the plain model, checked above")
    check_torch(c.model)
    inputs = inputs_of_length(c.model.vocab, 6, 4, 0, random.Random(1))[:8]
    assert check_trace(c.model, c.target, inputs) > 0
    if sum(a.size for a in lens_arrays(c.model).values()) <= LENS_PARAMETERS:
        check_lens(c.model)


@settings(max_examples=10, deadline=None)
@given(cases())
def test_random_programs_in_torch_and_traces(case):
    for vocab, c in compiled_sops(case, max_len=4):
        check_torch(c.model)
        if c.model.config["output"] == {"kind": "categorical", "values": []}:
            with pytest.raises(RaspError, match="TransformerLens needs an output"):
                interop.transformer_lens_config(c.model)
        else:
            check_lens(c.model)
        inputs = inputs_of_length(vocab, 3, 2, 0, random.Random(0))[:4]
        check_trace(c.model, c.target, inputs)


def test_the_attention_scale_is_folded_exactly():
    """Soft attention (the queries divided by 2^11: logits of about 1) makes any error in the
    fold of TransformerLens's attention scale visible in the patterns."""
    model = compiled("sort", "sorted_tokens").model
    arrays = {n: a / 2048 if n.endswith(".query") else a for n, a in model.arrays.items()}
    soft = Model(arrays, model.config)
    lens = interop.to_transformer_lens(soft)
    ids = batches(soft, (5,))[0]
    seen = _ours(soft, ids)
    with torch.no_grad():
        _, cache = lens.run_with_cache(torch.tensor(np.concatenate(
            [np.zeros((len(ids), 1), np.int64), ids], 1)))
    for (layer, h), pattern in seen.patterns.items():
        assert 0.01 < pattern.max() < 0.99  # soft indeed
        np.testing.assert_allclose(cache[f"blocks.{layer}.attn.hook_pattern"][:, h].numpy(),
                                   pattern, rtol=1e-12, atol=1e-15)


def test_a_block_of_one_linear_map_exports_exactly():
    """A feed-forward block of one linear map (no hidden layer) becomes ReLU(z) - ReLU(-z):
    random weights, so that nothing but the identity could pass."""
    rng = np.random.default_rng(0)
    d = 5
    config = {"format": "rasp-transformer/1", "program": "linear", "vocab": ["a", "b"],
              "max_len": 3, "d_model": d, "layers": [{"heads": 0, "mlp": 1}],
              "output": {"kind": "categorical", "values": ["x", "y"]}, "layout": []}
    arrays = {"embed.token": rng.normal(size=(3, d)), "embed.position": rng.normal(size=(4, d)),
              "layer0.mlp.0.weight": rng.normal(size=(d, d)),
              "layer0.mlp.0.bias": rng.normal(size=d), "unembed": rng.normal(size=(d, 2))}
    model = Model(arrays, config)
    ids = np.array([[1, 2, 2], [2, 1, 1]])
    seen = _ours(model, ids)
    with torch.no_grad():
        _, cache = interop.to_transformer_lens(model).run_with_cache(
            torch.tensor(np.concatenate([np.zeros((2, 1), np.int64), ids], 1)))
        y = interop.to_torch(model)(torch.tensor(ids)).numpy()
    np.testing.assert_allclose(cache["blocks.0.hook_resid_post"].numpy(), seen.residual(0),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, seen.y, rtol=1e-12, atol=1e-12)


def hooked_forward(state: dict, config: dict, ids: np.ndarray) -> np.ndarray:
    """HookedTransformer's forward pass (no LayerNorm, bidirectional, logits divided by
    attn_scale) written from its documented weight shapes, on ids with BOS first."""
    x = state["embed.W_E"][ids] + state["pos_embed.W_pos"][: ids.shape[1]]
    for b in range(config["n_layers"]):
        p = f"blocks.{b}"
        q, k, v = (np.einsum("bpd,hde->bphe", x, state[f"{p}.attn.W_{m}"])
                   + state[f"{p}.attn.b_{m}"] for m in "QKV")
        scores = np.einsum("bqhe,bkhe->bhqk", q, k) / config["attn_scale"]
        e = np.exp(scores - scores.max(-1, keepdims=True))
        z = np.einsum("bhqk,bkhe->bqhe", e / e.sum(-1, keepdims=True), v)
        x = x + np.einsum("bqhe,hed->bqd", z, state[f"{p}.attn.W_O"]) + state[f"{p}.attn.b_O"]
        hidden = np.maximum(x @ state[f"{p}.mlp.W_in"] + state[f"{p}.mlp.b_in"], 0)
        x = x + hidden @ state[f"{p}.mlp.W_out"] + state[f"{p}.mlp.b_out"]
    return x @ state["unembed.W_U"] + state["unembed.b_U"]


@pytest.mark.parametrize("stem, expr", [("sort", "sorted_tokens"), ("dyck", "dyck2"),
                                        ("balance", "shuffle_dyck2")])
def test_the_hooked_transformer_state_dict_computes_the_model(stem, expr):
    """For TransformerLens 1.x-3.x: the legacy names and shapes, run as HookedTransformer runs
    them, give our outputs (two-hidden-layer blocks split included: shuffle_dyck2)."""
    model = compiled(stem, expr).model
    state = {n: t.numpy() for n, t in
             interop.transformer_lens_state_dict(model, hooked=True).items()}
    config = interop.transformer_lens_config(model)
    assert state["blocks.0.attn.W_Q"].shape == (config["n_heads"], config["d_model"],
                                                config["d_head"])
    for ids in batches(model, (3, 8)):
        with_bos = np.concatenate([np.zeros((len(ids), 1), np.int64), ids], 1)
        equal_outputs(model, hooked_forward(state, config, with_bos)[:, 1:],
                      reference_forward(model.arrays, model.config, ids))


@pytest.mark.parametrize("stem, expr", [("reverse", "reverse"), ("histogram", "histogram")])
def test_the_causal_mask_travels_to_torch_and_transformer_lens(stem, expr):
    """A causal model's mask (config "causal": true) is in every forward pass: the weights of
    a program that reads later positions, masked, give other outputs than unmasked, and
    torch and TransformerLens give the masked ones."""
    unmasked = compiled(stem, expr).model
    masked = Model(unmasked.arrays, {**unmasked.config, "causal": True})
    assert masked.causal and not unmasked.causal
    assert interop.transformer_lens_config(masked)["attention_dir"] == "causal"
    assert interop.transformer_lens_config(unmasked)["attention_dir"] == "bidirectional"
    assert any(not np.array_equal(reference_forward(masked.arrays, masked.config, ids),
                                  reference_forward(unmasked.arrays, unmasked.config, ids))
               for ids in batches(unmasked))
    check_torch(masked)
    check_lens(masked)


@pytest.mark.parametrize("expr", ["count_next", "copy_next", "sort_next"])
def test_compiled_causal_rules_export_exactly(expr):
    model = session("decoding").compile(expr, vocab_for("decoding", expr), MAX_LEN,
                                        causal=True).model
    assert model.causal
    check_torch(model)
    check_lens(model)


LINEAR_PROGRAMS = """
prevs = select(indices, indices, <=);
def frac(t) { return aggregate(prevs, indicator(tokens == t)); }
pair_balance = frac("(") - frac(")");
negative = aggregate(full_s, indicator(frac("(") - frac(")") < 0));
"""


@pytest.mark.parametrize("expr", ["pair_balance", "negative"])
def test_linear_blocks_and_numerical_outputs_export_exactly(expr):
    """An affine map held as one number (a numerical output), and one a table computes in its
    own layer: torch, TransformerLens and the trace equal ours and the interpreter."""
    from rasp import Interpreter

    it = Interpreter(warn=lambda text: None)
    it.run(LINEAR_PROGRAMS, "<interop test>")
    c = it.compile(expr, list("()a"), 6)
    check_torch(c.model)
    check_lens(c.model)
    inputs = inputs_of_length(c.model.vocab, 6, 4, 0, random.Random(1))[:8]
    assert check_trace(c.model, c.target, inputs) > 0
