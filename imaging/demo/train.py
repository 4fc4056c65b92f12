"""Train the demo model from scratch: `easel demo-model train --out DIR [--steps N]`.

Stages, each resumable from the work folder (`DIR/_train` unless given):
  data    render the captioned scenes (seeded, so never stored: it is rebuilt in seconds)
  vae     train the 4x autoencoder on 32 px crops
  encode  encode every picture to latents, every caption to MiniLM token embeddings
  unet    train the UNet (v-prediction, EMA weights), checkpointing every few minutes
  decoder train the VAE decoder alone a little longer (sharper pictures, same latents)
  export  write the model folder (safetensors, scheduler, model_index.json, marker)

Runs on CUDA when present; on a CPU the whole run takes under an hour on 2 cores.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imaging.demo.vocab import DATA_VERSION, NATIVE_SIZE

log = logging.getLogger(__name__)

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    seed: int = 0
    captions: int = 6000  # distinct captions (each encoded once by MiniLM)
    renders: int = 3  # pictures per caption: the same words, different jitter
    two_things: float = 0.2  # share of scenes with two things
    vae_steps: int = 1200
    vae_batch: int = 16
    vae_crop: int = 32  # the last quarter trains on whole pictures (GroupNorm statistics)
    vae_lr: float = 3e-3
    decoder_steps: int = 400  # decoder-only polish after the UNet (latents stay fixed)
    # UNet steps: 8000 x batch 32 is about 40 minutes on 2 idle cores. 1800 (the first
    # model) drew flat blobs: colour and place are learnt early, shapes much later.
    steps: int = 8000
    # The background is most of every picture and is learnt first; from this step on the
    # loss on the object's latents counts `fg_weight` times, so the remaining steps go to
    # what the prompt is about (colour, shape, place of the thing).
    fg_weight: float = 5.0
    fg_weight_start: int = 300
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 100
    ema_decay: float = 0.998
    caption_dropout: float = 0.1  # empty prompt, so classifier-free guidance works
    snr_gamma: float = 5.0
    # Share of training samples whose timestep is one the default 4-step sampler visits
    # (999, 749, 499, 249): text-to-image only ever runs the UNet there, so that is where
    # accuracy pays; the rest stay uniform so other step counts and img2img still work.
    t_focus: float = 0.4
    t_focus_steps: int = 4
    checkpoint_every_s: float = 180.0

    def data_key(self) -> dict[str, Any]:
        """What the cached latents and embeddings depend on."""
        return {"data_version": DATA_VERSION, "seed": self.seed, "captions": self.captions,
                "renders": self.renders, "two_things": self.two_things}


@dataclass(slots=True)
class _Progress:
    """Prints `[stage] step/total ... ETA` at most every `every_s` seconds. The ETA uses
    the recent rate (smoothed), since a stage's speed changes (the VAE's last quarter
    trains on whole pictures) and other work on the machine comes and goes."""

    report: Report
    stage: str
    total: int
    start_step: int = 0
    every_s: float = 15.0
    last_t: float = field(default_factory=time.monotonic)
    last_step: int = -1
    rate: float = 0.0

    def update(self, step: int, extra: str = "") -> None:
        now = time.monotonic()
        if self.last_step < 0:
            self.last_step = self.start_step
        if step < self.total and now - self.last_t < self.every_s:
            return
        window = (step - self.last_step) / max(now - self.last_t, 1e-6)
        self.rate = window if self.rate == 0 else 0.5 * self.rate + 0.5 * window
        self.last_t, self.last_step = now, step
        eta = (self.total - step) / self.rate if self.rate > 0 else float("inf")
        self.report(f"[{self.stage}] {step}/{self.total} {extra} {self.rate:.2f} it/s, "
                    f"ETA {_fmt_s(eta)}".replace("  ", " "))


@dataclass(slots=True)
class _Chores:
    """What every training stage does after an optimiser step: smooth the loss (and keep it
    every 50 steps in `losses`, when given), report progress, and checkpoint every
    `every_s` seconds through `save`."""

    progress: _Progress
    save: Callable[[], None]
    every_s: float
    losses: list[list[float]] | None = None
    running: float = 0.0
    last_save: float = field(default_factory=time.monotonic)

    def after(self, step: int, loss: float, extra: str = "") -> None:
        self.running = 0.98 * self.running + 0.02 * loss if step > 1 else loss
        if self.losses is not None and step % 50 == 0:
            self.losses.append([step, round(self.running, 5)])
        self.progress.update(step, f"loss {self.running:.4f} {extra}".rstrip())
        if time.monotonic() - self.last_save > self.every_s:
            self.save()
            self.last_save = time.monotonic()


def _fmt_s(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _save(obj: Any, path: Path) -> None:
    """Write atomically: an interrupted save never leaves a half checkpoint behind."""
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    import torch

    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("key") != key:
        log.warning("ignoring %s: it was made from different data", path)
        return None
    return state


def pick_threads() -> int:
    """Threads for CPU training. On a busy machine one thread is several times faster than
    two (OpenMP workers spin waiting for a core that another process holds)."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, cores if busy < 0.5 else min(cores, int(cores - busy)))


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


# ---- stages -------------------------------------------------------------------------------

def build_data(cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pictures (n * renders, 64, 64, 3) uint8, where their things are on the latent grid
    (n * renders, 16, 16) bool, and the caption of each group of renders."""
    # lazy: torch model code, only when training
    from imaging.demo.model import VAE_FACTOR

    # lazy: torch model code, only when training
    from imaging.demo.scenes import make_dataset, render

    rng = np.random.default_rng(cfg.seed)
    scenes, captions = make_dataset(cfg.captions, rng, "train", cfg.two_things)
    draw_rng = np.random.default_rng(cfg.seed + 1)
    n, grid = len(scenes) * cfg.renders, NATIVE_SIZE // VAE_FACTOR
    images = np.empty((n, NATIVE_SIZE, NATIVE_SIZE, 3), np.uint8)
    masks = np.empty((n, grid, grid), bool)
    for i, scene in enumerate(scenes):
        for r in range(cfg.renders):
            image, thing_masks = render(scene, draw_rng)
            images[i * cfg.renders + r] = np.asarray(image)
            union = np.logical_or.reduce(thing_masks)
            cells = union.reshape(grid, VAE_FACTOR, grid, VAE_FACTOR).any(axis=(1, 3))
            # One cell more all round: the edge is where the shape is decided.
            masks[i * cfg.renders + r] = _dilate(cells)
    return images, masks, captions


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 binary dilation (plus-shaped, like scipy's default structure)."""
    p = np.pad(mask, 1)
    return p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]


def _to_pixels(batch: np.ndarray, device: str) -> Any:
    import torch

    x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def train_vae(cfg: TrainConfig, images: np.ndarray, work: Path, device: str,
              report: Report) -> Any:
    import torch

    # lazy: torch model code, only when training
    from imaging.demo.model import build_vae

    path = work / "vae.pt"
    torch.manual_seed(cfg.seed)
    vae = build_vae().to(device)
    with torch.no_grad():
        # Start the posterior's log-variance at -8 (std 0.02): at the default 0, sampled
        # latents are mostly noise and the decoder learns nothing for hundreds of steps.
        # It stays small (the KL weight is tiny), so img2img's sampled encoding is clean.
        vae.quant_conv.bias[vae.config.latent_channels:] = -8.0
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    state = _load(path, cfg.data_key())
    step, losses, elapsed = 0, [], 0.0
    if state:
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, losses, elapsed = state["step"], state["losses"], state["elapsed"]
        report(f"[vae] resuming at step {step}")
    rng = np.random.default_rng([cfg.seed, 2, step])
    t_start = time.monotonic()

    def checkpoint() -> None:
        _save({"key": cfg.data_key(), "model": vae.state_dict(), "opt": opt.state_dict(),
               "step": step, "losses": losses,
               "elapsed": elapsed + time.monotonic() - t_start}, path)

    chores = _Chores(_Progress(report, "vae", cfg.vae_steps, step), checkpoint,
                     cfg.checkpoint_every_s, losses)
    vae.train()
    while step < cfg.vae_steps:
        idx = rng.integers(len(images), size=cfg.vae_batch)
        # Crops are 4x cheaper; but GroupNorm normalises over the whole picture, so the
        # last quarter of the steps sees whole pictures, at a lower rate, as inference will.
        side = cfg.vae_crop if step < 0.75 * cfg.vae_steps else NATIVE_SIZE
        for group in opt.param_groups:
            group["lr"] = cfg.vae_lr if side < NATIVE_SIZE else cfg.vae_lr / 3
        ox, oy = rng.integers(0, NATIVE_SIZE - side + 1, size=2)
        crop = images[idx, oy:oy + side, ox:ox + side]
        x = _to_pixels(np.ascontiguousarray(crop), device)
        posterior = vae.encode(x).latent_dist
        rec = vae.decode(posterior.sample()).sample
        # L1 keeps flat colours exact, MSE punishes the rare big miss at an edge; the KL term
        # only keeps latents near unit scale (their std is measured and stored later).
        loss = (torch.nn.functional.mse_loss(rec, x) + 0.5 * (rec - x).abs().mean()
                + 1e-6 * posterior.kl().mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        chores.after(step, loss.item())
    checkpoint()
    vae.eval()
    return vae


def encode_data(cfg: TrainConfig, images: np.ndarray, captions: list[str], vae: Any,
                work: Path, device: str, report: Report) -> dict[str, Any]:
    """Latents of every picture and token embeddings of every caption (plus the empty one)."""
    import torch

    # lazy: torch model code, only when training
    from imaging.demo.text_encoder import encode, load_text_encoder, load_tokenizer

    path = work / "encoded.pt"
    key = {**cfg.data_key(), "vae_steps": cfg.vae_steps}
    state = _load(path, key)
    if state:
        return state
    t0 = time.monotonic()
    chunks = []
    with torch.inference_mode():
        for i in range(0, len(images), 256):
            x = _to_pixels(images[i:i + 256], device)
            chunks.append(vae.encode(x).latent_dist.mean.cpu())
    latents = torch.cat(chunks)
    scale = float(1.0 / latents.std())
    report(f"[encode] {len(latents)} latents, std {1 / scale:.3f} ({time.monotonic() - t0:.0f}s)")
    t0 = time.monotonic()
    # transformers types `.to` through a decorator whose signature says "a model".
    tokenizer, encoder = load_tokenizer(), load_text_encoder().to(device)  # type: ignore[arg-type]
    emb = encode([*captions, ""], tokenizer, encoder)
    report(f"[encode] {len(captions)} captions ({time.monotonic() - t0:.0f}s)")
    state = {"key": key, "latents": latents.half(), "scale": scale,
             "text": emb[:-1].half(), "empty": emb[-1]}
    _save(state, path)
    return state


def polish_decoder(cfg: TrainConfig, images: np.ndarray, enc: dict[str, Any], vae: Any,
                   work: Path, device: str, report: Report) -> Any:
    """More training for the VAE's decoder alone, on the stored latents. The encoder is
    frozen, so the latents the UNet learnt stay valid; only the pictures get sharper.
    Most of the VAE's blur is in its decoder and this is the cheap place to fix it."""
    import torch

    path = work / "decoder.pt"
    key = {**cfg.data_key(), "vae_steps": cfg.vae_steps}
    params = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.vae_lr / 3, weight_decay=0.0)
    step, elapsed = 0, 0.0
    state = _load(path, key)
    if state:
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
        report(f"[decoder] resuming at step {step}")
    latents = enc["latents"]
    rng = np.random.default_rng([cfg.seed, 3, step])
    t_start = time.monotonic()

    def checkpoint() -> None:
        _save({"key": key, "model": vae.state_dict(), "opt": opt.state_dict(), "step": step,
               "elapsed": elapsed + time.monotonic() - t_start}, path)

    chores = _Chores(_Progress(report, "decoder", cfg.decoder_steps, step), checkpoint,
                     cfg.checkpoint_every_s)
    vae.decoder.train()
    while step < cfg.decoder_steps:
        for group in opt.param_groups:  # linear decay: the last steps settle the edges
            group["lr"] = cfg.vae_lr / 3 * (1 - step / cfg.decoder_steps)
        idx = rng.integers(len(images), size=cfg.vae_batch)
        x = _to_pixels(images[idx], device)
        rec = vae.decode(latents[idx].to(device).float()).sample
        loss = torch.nn.functional.mse_loss(rec, x) + 0.5 * (rec - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        chores.after(step, loss.item())
    checkpoint()
    vae.eval()
    return vae


def _vae_error(vae: Any, images: np.ndarray, device: str) -> float:
    """Mean absolute reconstruction error, in 0..255 units, on the first 256 pictures."""
    import torch

    with torch.inference_mode():
        probe = _to_pixels(images[:256], device)
        rec = vae.decode(vae.encode(probe).latent_dist.mean).sample
        return float((rec.clamp(-1, 1) - probe).abs().mean() * 127.5)


def _lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def train_unet(cfg: TrainConfig, enc: dict[str, Any], masks: np.ndarray, work: Path,
               device: str, report: Report) -> tuple[Any, list[list[float]], float]:
    import copy

    import torch

    # lazy: torch model code, only when training
    from imaging.demo.model import (
        UNET_VERSION,
        build_inference_scheduler,
        build_train_scheduler,
        build_unet,
    )

    path = work / "unet.pt"
    key = {**cfg.data_key(), "vae_steps": cfg.vae_steps, "unet_version": UNET_VERSION,
           "t_focus": [cfg.t_focus, cfg.t_focus_steps]}
    torch.manual_seed(cfg.seed)
    unet = build_unet().to(device)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=1e-2)
    step, losses, elapsed = 0, [], 0.0
    state = _load(path, key)
    if state:
        unet.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, losses, elapsed = state["step"], state["losses"], state["elapsed"]
        report(f"[unet] resuming at step {step}")
    sched = build_train_scheduler()
    abar = sched.alphas_cumprod.to(device)
    latents = enc["latents"].to(device)
    text, empty = enc["text"].to(device), enc["empty"].to(device)
    scale = enc["scale"]
    fg = torch.from_numpy(masks).to(device)
    infer = build_inference_scheduler()
    infer.set_timesteps(cfg.t_focus_steps)
    focus_t = infer.timesteps.long().cpu()
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed * 1000 + step)
    t_start = time.monotonic()

    def checkpoint() -> None:
        _save({"key": key, "model": unet.state_dict(), "ema": ema.state_dict(),
               "opt": opt.state_dict(), "step": step, "losses": losses,
               "elapsed": elapsed + time.monotonic() - t_start}, path)

    chores = _Chores(_Progress(report, "unet", cfg.steps, step), checkpoint,
                     cfg.checkpoint_every_s, losses)
    unet.train()
    while step < cfg.steps:
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, step)
        idx = torch.randint(len(latents), (cfg.batch,), generator=gen)
        x0 = latents[idx.to(device)].float() * scale
        emb = text[(idx // cfg.renders).to(device)].float()
        drop = (torch.rand(cfg.batch, generator=gen) < cfg.caption_dropout).to(device)
        emb = torch.where(drop[:, None, None], empty.float()[None], emb)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, sched.config.num_train_timesteps, (cfg.batch,), generator=gen)
        focus = torch.rand(cfg.batch, generator=gen) < cfg.t_focus
        t = torch.where(focus, focus_t[torch.randint(len(focus_t), (cfg.batch,), generator=gen)],
                        t).to(device)
        xt = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t)
        pred = unet(xt, t, emb).sample
        # v-loss = (snr + 1) x the x0 loss; cap that factor at gamma (Min-SNR) so nearly
        # clean steps do not dominate, and keep weight 1 at pure noise (zero terminal SNR:
        # the first sampling step must still be learnt).
        snr = abar[t] / (1 - abar[t]).clamp_min(1e-8)
        weight = (snr + 1).clamp(max=cfg.snr_gamma) / (snr + 1)
        err = ((pred.float() - target) ** 2).mean(dim=1)  # (batch, 16, 16)
        if step >= cfg.fg_weight_start:
            w = 1 + (cfg.fg_weight - 1) * fg[idx.to(device)].float()
            per = (w * err).sum(dim=(1, 2)) / w.sum(dim=(1, 2))
        else:
            per = err.mean(dim=(1, 2))
        loss = (weight * per).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), unet.parameters(), strict=True):
                pe.lerp_(p, 1 - decay)
        chores.after(step, loss.item(), f"lr {_lr_at(cfg, step):.1e}")
    checkpoint()
    total = elapsed + time.monotonic() - t_start
    return ema.eval(), losses, total


def train(out_dir: Path | str, steps: int | None = None, *, resume: bool = True,
          work_dir: Path | str | None = None, device: str = "auto",
          threads: int | None = None, config: TrainConfig | None = None,
          report: Report | None = None) -> Path:
    """Train the demo model and write it to `out_dir`; returns that folder."""
    import dataclasses

    import torch

    report = report or log.info
    cfg = config or TrainConfig()
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    out = Path(out_dir)
    work = Path(work_dir) if work_dir else out / "_train"
    if not resume and work.exists():
        for f in ("vae.pt", "encoded.pt", "unet.pt", "decoder.pt"):
            (work / f).unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    if dev == "cpu":
        torch.set_num_threads(threads or pick_threads())
    n_threads = torch.get_num_threads()
    report(f"training the demo model on {dev} ({n_threads} thread{'s' * (n_threads != 1)}): "
           f"{cfg.vae_steps} VAE steps, {cfg.steps} UNet steps, batch {cfg.batch}, "
           f"{cfg.decoder_steps} decoder steps; "
           f"work folder {work}")
    t0 = time.monotonic()
    images, masks, captions = build_data(cfg)
    report(f"[data] {len(images)} pictures, {len(captions)} captions "
           f"({time.monotonic() - t0:.0f}s)")
    vae = train_vae(cfg, images, work, dev, report)
    report(f"[vae] reconstruction error {_vae_error(vae, images, dev):.2f} / 255 per channel")
    enc = encode_data(cfg, images, captions, vae, work, dev, report)
    unet, losses, unet_s = train_unet(cfg, enc, masks, work, dev, report)
    vae = polish_decoder(cfg, images, enc, vae, work, dev, report)
    vae_mae = _vae_error(vae, images, dev)
    report(f"[decoder] reconstruction error {vae_mae:.2f} / 255 per channel")
    del images
    vae.register_to_config(scaling_factor=enc["scale"])

    # lazy: torch model code, only when training
    from imaging.demo.model import save_model

    stage_seconds = {}
    for stage in ("vae", "unet", "decoder"):
        state = torch.load(work / f"{stage}.pt", map_location="cpu", weights_only=False)
        stage_seconds[stage] = round(state["elapsed"])
    meta = {"seed": cfg.seed, "config": asdict(cfg), "unet_steps": cfg.steps,
            "unet_train_seconds": round(unet_s), "stage_seconds": stage_seconds, "device": dev,
            "threads": n_threads if dev == "cpu" else None,
            "vae_reconstruction_mae": round(vae_mae, 2), "loss_curve": losses}
    save_model(out, unet, vae, meta)
    (work / "train_log.json").write_text(json.dumps(meta, indent=2))
    report(f"wrote the demo model to {out} (this run {_fmt_s(time.monotonic() - t0)})")
    return out
