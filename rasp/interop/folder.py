"""Writing a model's shared folder (compiler/folder.py reads it) and verifying a model again
from the program that travels with it (docs/interop.md). Numpy and the interpreter only.

Every file goes through rasp.files: the folder is claimed (one run at a time, another
model's files refused unless `force`), each file written atomically, config.json last.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..compiler import folder as layout
from ..compiler.folder import CARD, CONFIG, FILES, PROGRAM, WEIGHTS, Source, sha256
from ..compiler.model import Model
from ..compiler.modelfile import FORMAT
from ..compiler.verify import Verification
from ..compiler.verify import verify as check
from ..errors import RaspValueError
from ..files import claim_folder, write_atomic
from ..graph import SOp
from ..interpreter import Interpreter
from .lens import lens_arrays, lens_config


def save_folder(model: Model, path: str | Path, source: Source | None = None,
                verification: Verification | None = None,
                float32: Verification | None = None, force: bool = False) -> Path:
    """Write the model's shared folder at `path` (made if missing): model.safetensors,
    program.rasp (`source`, else the model's own), README.md, config.json; `verification`
    and `float32` (the check in float32), when made, are recorded. Returns the path."""
    source = source or model.source
    if source is None:
        raise RaspValueError("a shared folder carries the program: give its source (the "
                             "model was not loaded with one)")
    weights = layout.safetensors_bytes(model.arrays, {"format": FORMAT,
                                                      "config": json.dumps(model.config)})
    program = source.text.encode("utf-8")
    manifest = {"format": FORMAT, "config": model.config,
                "transformer_lens": lens_config(model),
                "program": {"file": PROGRAM, "target": source.target,
                            "sha256": source.sha256},
                "sha256": {WEIGHTS: sha256(weights), PROGRAM: sha256(program)},
                "verification": None if verification is None else verification.report(),
                "verification_float32": None if float32 is None else float32.report()}
    with claim_folder(path, "model", FILES, CONFIG, force=force) as claimed:
        write_atomic(claimed.path / WEIGHTS, weights)
        write_atomic(claimed.path / PROGRAM, program)
        write_atomic(claimed.path / CARD, card(model, source, verification, float32))
        write_atomic(claimed.path / CONFIG, json.dumps(manifest, indent=1) + "\n")
    return Path(path)


def save_lens_folder(model: Model, path: str | Path, force: bool = False) -> Path:
    """TransformerLens's weights (lens.lens_arrays: the bridge's names, padded and folded)
    in model.safetensors and its config in config.json: for `rasp export --to
    transformer-lens`."""
    weights = layout.safetensors_bytes(lens_arrays(model), {"format": "transformer-lens"})
    config = lens_config(model)
    with claim_folder(path, "model", (WEIGHTS, CONFIG), CONFIG, force=force) as claimed:
        write_atomic(claimed.path / WEIGHTS, weights)
        write_atomic(claimed.path / CONFIG, json.dumps(config, indent=1) + "\n")
    return Path(path)


def card(model: Model, source: Source, verification: Verification | None,
         float32: Verification | None = None) -> str:
    """The README.md model card: what it computes and how to load it."""
    c = model.config
    checked = verification.report() if verification is not None else "not checked when saved"
    single = "not checked" if float32 is None else float32.report()
    return f"""# {c['program']}: a compiled RASP program

A transformer encoder compiled by rasp (`rasp-transformer/1`) from `{PROGRAM}`, computing
the s-op `{source.target}` exactly on every input of 1..{c['max_len']} tokens over the
vocabulary `{json.dumps(c['vocab'])}`.

- {model.summary().splitlines()[0]}
- output: {c['output']['kind']}
- when saved: {checked}
- in float32: {single}
- `{PROGRAM}` SHA-256: `{source.sha256}`

Inputs are token ids: 0 is BOS, prepended to every input; `vocab[i]` is id i + 1. float64.

```python
from rasp.compiler import Model
model = Model.load("THIS_FOLDER")          # numpy; checks every file's SHA-256 first
from rasp.interop import to_torch, to_transformer_lens, verify
verify(model).report()                     # again, against the interpreter
module = to_torch(model)                   # torch.nn.Module, float64
bridge = to_transformer_lens(model)        # TransformerLens TransformerBridge
```
"""


def verify(model: Model | str | Path, dtype: str = "float64",
           sample: int | None = None) -> Verification:
    """Check a model (or the shared folder at a path) against the interpreter running the
    program that came with it; `dtype` "float32": whether it stays exact in float32."""
    if not isinstance(model, Model):
        model = Model.load(model)
    if model.source is None:
        raise RaspValueError("this model came without its program (an .npz file): verify it "
                             "from a shared folder, or with the Compiled that made it")
    interpreter = Interpreter(warn=lambda text: None)
    interpreter.run(model.source.text, PROGRAM)
    target = interpreter.value(model.source.target)
    if not isinstance(target, SOp):
        raise RaspValueError(f"{PROGRAM}'s '{model.source.target}' is not an s-op")
    return check(model, target, sample=sample, dtype=dtype)
