"""Build the default gate from a `GateConfig` — the one place that wires safety together."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import aiohttp

from safety.audit import AuditLog, JsonlAuditSink, MemoryAuditSink, RedisStreamAuditSink
from safety.config import GateConfig, SafetyPolicy
from safety.errors import PolicyError
from safety.gate import SELF_HARM_MESSAGE, SafetyGate
from safety.image import NudeNetClassifier
from safety.policy import ImageClassifier, TextClassifier
from safety.remote import (
    AzureContentSafetyClassifier,
    AzureContentSafetyImageClassifier,
    OpenAIModerationClassifier,
    OpenAIModerationImageClassifier,
)
from safety.text import HEAD_PATH, LayeredTextClassifier

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


def build_audit(config: GateConfig, redis: Redis | None = None) -> AuditLog:
    salt = config.audit_salt
    if not salt:
        # Unsalted sha256 of a user id is reversible by enumeration; a per-process salt is
        # private but does not link one user's blocks across restarts.  Configure one.
        log.warning("safety audit salt not configured: using a random per-process salt")
        salt = secrets.token_hex(16)
    if redis is not None:
        return AuditLog(RedisStreamAuditSink(redis, config.audit_redis_stream), salt)
    if config.audit_path is not None:
        return AuditLog(JsonlAuditSink(config.audit_path), salt)
    log.warning("no safety audit path or Redis configured: audit records are kept in memory only")
    return AuditLog(MemoryAuditSink(), salt)


def _need(value: str, name: str, backend: str) -> str:
    if not value:
        raise PolicyError(f"safety backend {backend!r} needs {name}")
    return value


def build_text_classifier(config: GateConfig, policy: SafetyPolicy, session: aiohttp.ClientSession | None) -> TextClassifier:
    if config.text_backend == "local":
        return LayeredTextClassifier.default(
            head_path=config.head_path or HEAD_PATH,
            model_dir=config.model_dir,
            thresholds=policy.thresholds(),
            encoder_threads=config.encoder_threads,
            cache_size=config.text_cache_size,
            max_batch=config.text_max_batch,
        )
    if session is None:
        raise PolicyError(f"safety backend {config.text_backend!r} needs an aiohttp session")
    if config.text_backend == "openai":
        key = _need(config.openai_api_key, "an API key", "openai")
        return OpenAIModerationClassifier(session, config.openai_base_url, key, config.openai_model, config.request_timeout_s)
    endpoint = _need(config.azure_endpoint, "an endpoint", "azure")
    return AzureContentSafetyClassifier(session, endpoint, _need(config.azure_key, "a key", "azure"), config.request_timeout_s)


def build_image_classifier(config: GateConfig, policy: SafetyPolicy, session: aiohttp.ClientSession | None) -> ImageClassifier:
    if config.image_backend == "nudenet":
        return NudeNetClassifier(policy.image_thresholds or None, threads=config.image_threads,
                                 device=config.image_device)
    if session is None:
        raise PolicyError(f"image safety backend {config.image_backend!r} needs an aiohttp session")
    if config.image_backend == "openai":
        key = _need(config.openai_api_key, "an API key", "openai")
        return OpenAIModerationImageClassifier(session, config.openai_base_url, key, config.openai_model, config.request_timeout_s)
    endpoint = _need(config.azure_endpoint, "an endpoint", "azure")
    return AzureContentSafetyImageClassifier(session, endpoint, _need(config.azure_key, "a key", "azure"), config.request_timeout_s)


def build_gate(
    config: GateConfig,
    *,
    session: aiohttp.ClientSession | None = None,
    redis: Redis | None = None,
) -> SafetyGate:
    """The gate for `config`.  Models load lazily; call `await gate.warm_up()` at start-up."""
    policy = SafetyPolicy.load(config.policy_path)
    audit = build_audit(config, redis)
    if config.dangerously_disable_safety:
        return SafetyGate.disabled(policy, audit)
    return SafetyGate(
        build_text_classifier(config, policy, session),
        build_image_classifier(config, policy, session),
        policy,
        audit,
        self_harm_message=config.self_harm_message.strip() or SELF_HARM_MESSAGE,
    )
