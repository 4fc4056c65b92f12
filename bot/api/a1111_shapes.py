"""AUTOMATIC1111's API shapes: the request bodies easel reads and the answers it writes.

Field names and defaults follow A1111's own (modules/api/models.py: the processing
classes' arguments plus `init_images`, `denoising_strength`, `mask`; `TextToImageResponse`
= `images`, `parameters`, `info`). Fields easel has no use for (samplers, hires fix,
face restoration, scripts) are accepted and ignored, as A1111 ignores what a script does
not read, so a client's full body never fails on them; what was actually done (the
engine's sampler, steps and guidance, the size drawn) is what `info` reports.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import time
from typing import Any

from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.base import ToolResult

MAX_STEPS = 50  # as in chat (/settings steps=); more is clamped, as `info` then says
SAMPLER = "Default"  # the engine's own scheduler: easel does not swap samplers


class Txt2ImgRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = Field(default_factory=list)
    seed: int = -1
    batch_size: int = Field(default=1, ge=1)
    n_iter: int = Field(default=1, ge=1)
    steps: int | None = Field(default=None, ge=1)  # None: the engine's own default
    cfg_scale: float = 7.0
    width: int | None = Field(default=None, ge=1)  # None: the engine's own size
    height: int | None = Field(default=None, ge=1)
    sampler_name: str | None = None
    sampler_index: str | None = None
    scheduler: str | None = None
    override_settings: dict[str, Any] = Field(default_factory=dict)
    send_images: bool = True

    def model(self) -> str | None:
        """The checkpoint this request asks for (`override_settings`), if any."""
        name = self.override_settings.get("sd_model_checkpoint")
        return name if isinstance(name, str) and name else None

    def images(self) -> int:
        return self.batch_size * self.n_iter

    def size(self) -> str | None:
        if self.width is None and self.height is None:
            return None
        return f"{self.width or self.height}x{self.height or self.width}"

    def clamped_steps(self) -> int | None:
        return min(self.steps, MAX_STEPS) if self.steps is not None else None


class Img2ImgRequest(Txt2ImgRequest):
    init_images: list[str] = Field(min_length=1)
    denoising_strength: float = Field(default=0.75, ge=0.0, le=1.0)
    mask: str | None = None
    inpainting_mask_invert: int = 0  # 1: the black part is redrawn
    include_init_images: bool = False


def parameters(request: Txt2ImgRequest) -> dict[str, Any]:
    """The request as A1111 echoes it: every field, pictures left out."""
    out = request.model_dump()
    if isinstance(request, Img2ImgRequest) and not request.include_init_images:
        out["init_images"], out["mask"] = None, None
    return out


def info(request: Txt2ImgRequest, result: ToolResult, model: str, guidance: float) -> str:
    """`info`: what was drawn, as a JSON string, A1111's fields (LibreChat reads `seed`,
    `width`, `height` and `infotexts`); `easel_image_ids` names the stored pictures."""
    images = result.images
    seeds = [i.seed for i in images]
    width, height = (images[0].width, images[0].height) if images else (0, 0)
    prompt = result.prompt or request.prompt
    negative = request.negative_prompt
    steps = result.steps or 0
    strength = request.denoising_strength if isinstance(request, Img2ImgRequest) else None
    texts = [infotext(prompt, negative, steps, guidance, seed, width, height, model, strength)
             for seed in seeds]
    return json.dumps({
        "prompt": prompt, "all_prompts": [prompt] * len(images),
        "negative_prompt": negative, "all_negative_prompts": [negative] * len(images),
        "seed": seeds[0] if seeds else -1, "all_seeds": seeds,
        "subseed": -1, "all_subseeds": [-1] * len(images), "subseed_strength": 0,
        "width": width, "height": height, "sampler_name": SAMPLER, "cfg_scale": guidance,
        "steps": steps, "batch_size": request.batch_size, "restore_faces": False,
        "face_restoration_model": None, "sd_model_name": model, "sd_model_hash": None,
        "sd_vae_name": None, "sd_vae_hash": None, "seed_resize_from_w": -1,
        "seed_resize_from_h": -1, "denoising_strength": strength,
        "extra_generation_params": {}, "index_of_first_image": 0, "infotexts": texts,
        "styles": request.styles, "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        "clip_skip": 1, "is_using_inpainting_conditioning": False, "version": "easel",
        "easel_image_ids": [i.image_id for i in images], "easel_note": result.text or None,
    })


def infotext(prompt: str, negative: str, steps: int, guidance: float, seed: int,
             width: int, height: int, model: str, strength: float | None) -> str:
    """A1111's parameters text (what it writes into a PNG and `infotexts`)."""
    lines = [prompt]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    fields = [f"Steps: {steps}", f"Sampler: {SAMPLER}", f"CFG scale: {guidance:g}",
              f"Seed: {seed}", f"Size: {width}x{height}", f"Model: {model}"]
    if strength is not None:
        fields.append(f"Denoising strength: {strength:g}")
    lines.append(", ".join([*fields, "Version: easel"]))
    return "\n".join(lines)


def error_body(status: int, detail: str, kind: str = "HTTPException") -> dict[str, Any]:
    """A1111's error answer (its `handle_exception`): error, detail, body, errors."""
    return {"error": kind, "detail": detail, "body": "", "errors": f"{status}: {detail}"}


def model_items(models: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """`/sdapi/v1/sd-models`: (name, filename) per engine; the title is the name."""
    return [{"title": name, "model_name": name, "hash": None, "sha256": None,
             "filename": filename, "config": None} for name, filename in models]


def options(model: str) -> dict[str, Any]:
    """`GET /sdapi/v1/options`: the checkpoint this key draws with, and the few options
    clients read."""
    return {"sd_model_checkpoint": model, "sd_checkpoint_hash": None, "sd_vae": "Automatic",
            "samples_format": "png", "CLIP_stop_at_last_layers": 1,
            "enable_pnginfo": True, "live_previews_enable": False}


SAMPLERS = [{"name": SAMPLER, "aliases": ["default"], "options": {}}]
SCHEDULERS = [{"name": "automatic", "label": "Automatic", "aliases": None,
               "default_rho": -1, "need_inner_model": False}]
UPSCALERS = [{"name": "None", "model_name": None, "model_path": None, "model_url": None,
              "scale": 4}]


def progress(step: int, total: int, eta_s: float, jobs: int, job: str, text: str | None
             ) -> dict[str, Any]:
    """`GET /sdapi/v1/progress` (models.ProgressResponse)."""
    return {"progress": step / total if total else 0.0, "eta_relative": eta_s,
            "state": {"skipped": False, "interrupted": False, "stopping_generation": False,
                      "job": job, "job_count": jobs, "job_timestamp": "0", "job_no": 0,
                      "sampling_step": step, "sampling_steps": total},
            "current_image": None, "textinfo": text}


class A1111Error(Exception):
    """Raised anywhere in a request; answered as A1111's error (`error_body`)."""

    def __init__(self, status: int, detail: str, kind: str = "HTTPException",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind, self.headers = status, detail, kind, headers


def basic_password(header: str) -> str:
    """The key in `Authorization: Basic base64(user:KEY)` (a bare base64 key without a
    colon, or `Bearer KEY`, work too); "" when there is none."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2] if ":" in decoded else decoded


def parse(model: type[Txt2ImgRequest], raw: bytes) -> Any:
    """The body as `model` (422 in A1111's words when it is not)."""
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise A1111Error(422, f"{where}: {first.get('msg', 'invalid')}",
                         "RequestValidationError") from None


def picture_bytes(text: str, field: str) -> bytes:
    """A base64 picture (a data: URI works)."""
    try:
        return base64.b64decode(text.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise A1111Error(422, f"{field}: not a base64 picture") from None


def mask_png(data: bytes, invert: bool) -> str:
    """Blocking: a sent mask as the region tool takes it, a base64 "L" PNG, white =
    redraw (A1111's convention, its `create_binary_mask`: the alpha of a picture with
    transparency, else the brightness; `inpainting_mask_invert` flips it)."""
    with Image.open(io.BytesIO(data)) as sent:
        sent.load()
        see_through = sent.mode == "RGBA" and sent.getchannel("A").getextrema() != (255, 255)
        mask = sent.getchannel("A") if see_through else sent.convert("L")
    if invert:
        mask = ImageOps.invert(mask)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()
