"""Safety: classifiers and the gate the assistant calls at its three checkpoints.

Entry points (import the modules; this package imports nothing eagerly):
- `safety.factory.build_gate(GateConfig(...), session=..., redis=...)` -> `SafetyGate`
- `SafetyGate.check_text(text, "input" | "prompt", user_id, strictness)` and
  `SafetyGate.check_images(images, user_id, strictness)`; `refusal_message(verdict)`,
  `withheld_message(verdicts)` for what the user is told.
- `safety.cli.run_check` / `run_eval` for `easel safety check` / `easel safety eval FILE`.
- `python -m safety.train_head` rebuilds `safety/data/head.json` and `HEAD_METRICS.md`.

Speed: the text encoder runs on ONNX Runtime, exported once from its torch pass with
`torch.onnx` and cached (`encoder_onnx`, `minilm`; `python -m safety.encoder_onnx` exports it
ahead of time); concurrent text checks share one encoder pass (`batching`); scores are cached
per normalised text and policy version (`cache`); term rules run behind a word index
(`term_index`).  Image detections need a person or skin behind them (`image_evidence`).
"""
