"""What a model config may ask of a worker, checked when it is saved and again when it loads.

A model config is user input that a worker acts on, so:
- loader options are an allow-list per backend kind (and scorer head), with typed scalar
  values: nothing reaches `vllm.LLM(...)` or `from_pretrained(...)` that could name code to
  import or turn on code from the model directory (that is the config's own
  `trust_remote_code`, which only a project admin sets);
- secrets never sit in a config: a key looking like one is refused at any depth, and a key is
  read from the worker's environment only through a variable the operator allow-lists
  (STEPWISE_SECRET_ENV_ALLOWLIST), and sent only to a host the operator lists;
- endpoints pass algorithms.endpoints.

Pure Python, imported by the web process (save time) and by the worker (load time).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from algorithms.endpoints import EndpointPolicy
from algorithms.log_safety import escape_controls
from algorithms.model_errors import PolicyViolation

OptionTypes = Mapping[str, tuple[type, ...]]
INT: tuple[type, ...] = (int,)
NUMBER: tuple[type, ...] = (int, float)
BOOL: tuple[type, ...] = (bool,)
STR: tuple[type, ...] = (str,)
URLS: tuple[type, ...] = (list,)
TYPE_NAMES = {
    INT: "an integer",
    NUMBER: "a number",
    BOOL: "true or false",
    STR: "a string",
    URLS: 'a list of URLs, e.g. ["http://gpu2:8000/v1"]',
}

# vLLM engine arguments that size and schedule the engine. Left out on purpose: anything that
# names a class, module, file or plugin to load (worker_cls, logits_processors, load_format,
# tokenizer, hf_overrides, model_impl, ...) and trust_remote_code.
VLLM_ENGINE_OPTIONS: OptionTypes = {
    "gpu_memory_utilization": NUMBER,
    "kv_cache_memory_bytes": INT,
    "enforce_eager": BOOL,
    "tensor_parallel_size": INT,
    "pipeline_parallel_size": INT,
    "max_num_seqs": INT,
    "max_num_batched_tokens": INT,
    "enable_prefix_caching": BOOL,
    "enable_chunked_prefill": BOOL,
    "swap_space": NUMBER,
    "cpu_offload_gb": NUMBER,
    "quantization": STR,
    "seed": INT,
}
OPTIONS_BY_KIND: Mapping[str, OptionTypes] = {
    "vllm": VLLM_ENGINE_OPTIONS,
    "openai": {
        "api_key_env": STR,
        "timeout_s": NUMBER,
        "prompts_per_request": INT,
        # More endpoints serving the same model, and how many requests go out at a time.
        "base_urls": URLS,
        "concurrent_requests": INT,
    },
    "transformers": {"batch_size": INT, "device": STR},
}
# Scorer heads read their marker tokens from these.
OPTIONS_BY_HEAD: Mapping[tuple[str, str], OptionTypes] = {
    ("transformers", "math-shepherd"): {
        "step_tag": STR,
        "good_token": STR,
        "bad_token": STR,
        "step_template": STR,  # algorithms.prm_inputs: "Step {number}: {step} {tag}"
    },
    ("transformers", "qwen-prm"): {"step_separator": STR, "system_prompt": STR},
    ("vllm", "qwen-prm"): {"step_separator": STR, "system_prompt": STR},
}
# Options that spread one model over several GPUs or endpoints (docs/workers.md): counts.
AT_LEAST_ONE = frozenset({"tensor_parallel_size", "pipeline_parallel_size", "concurrent_requests"})
KNOWN_OPTION_KEYS = frozenset(
    key for options in (*OPTIONS_BY_KIND.values(), *OPTIONS_BY_HEAD.values()) for key in options
)

# A key containing one of these (case and separators ignored) names a secret, unless it is one
# of the known options above (api_key_env holds a variable's name; good_token is a "+").
SECRET_WORDS = (
    "apikey",
    "accesskey",
    "privatekey",
    "token",
    "password",
    "passwd",
    "secret",
    "auth",
    "bearer",
    "credential",
    "cookie",
    "session",
)
SECRET_ADVICE = (
    "put the key in the worker's environment and name its variable, e.g. "
    '"api_key_env": "OPENAI_API_KEY" (an operator allow-lists the names)'
)


@dataclass(frozen=True)
class BackendPolicy:
    endpoints: EndpointPolicy = field(default_factory=EndpointPolicy)
    secret_envs: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Any) -> BackendPolicy:
        """The operator's policy from Django settings (see the settings' model-config block)."""
        return cls(
            endpoints=EndpointPolicy.from_entries(
                settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS,
                allow_public=settings.STEPWISE_ENDPOINT_ALLOW_PUBLIC,
            ),
            secret_envs=frozenset(settings.STEPWISE_SECRET_ENV_ALLOWLIST),
        )


def allowed_options(kind: str, scorer_head: str | None) -> OptionTypes:
    return {**OPTIONS_BY_KIND.get(kind, {}), **OPTIONS_BY_HEAD.get((kind, scorer_head or ""), {})}


def looks_secret(key: str) -> bool:
    if key in KNOWN_OPTION_KEYS:
        return False
    normal = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(word in normal for word in SECRET_WORDS)


def secret_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the secret-looking keys in `value`, at any depth (lists included)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}{key}"
            if looks_secret(str(key)):
                yield path
            yield from secret_paths(item, f"{path}.")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from secret_paths(item, f"{prefix}{index}.")


def without_secrets(value: Any) -> Any:
    """A copy of `value` without its secret-looking keys, at any depth: what may be shown or
    copied into a job (rows saved before the checks may still hold such keys)."""
    if isinstance(value, Mapping):
        return {k: without_secrets(v) for k, v in value.items() if not looks_secret(str(k))}
    if isinstance(value, list | tuple):
        return [without_secrets(item) for item in value]
    return value


def check_options(kind: str, scorer_head: str | None, options: Any) -> None:
    if not isinstance(options, Mapping):
        raise PolicyViolation("options", "options must be a JSON object")
    secrets = list(secret_paths(options))
    if secrets:
        raise PolicyViolation("options", f"{secrets[0]} may not be stored here; {SECRET_ADVICE}")
    allowed = allowed_options(kind, scorer_head)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        what = f"{kind} {scorer_head} scorer" if scorer_head else f"{kind} model"
        raise PolicyViolation(
            "options",
            f"unknown option {', '.join(unknown)} for a {what}; allowed: "
            f"{', '.join(sorted(allowed)) or 'none'}",
        )
    for key, value in options.items():
        types = allowed[key]
        if not isinstance(value, types) or (types != BOOL and isinstance(value, bool)):
            raise PolicyViolation(
                "options", f"option {key} must be {TYPE_NAMES[types]}, got {value!r}"
            )
        if key in AT_LEAST_ONE and isinstance(value, int) and value < 1:
            raise PolicyViolation("options", f"option {key} must be at least 1, got {value!r}")


def check_api_key_env(variable: str, endpoint: str, policy: BackendPolicy) -> None:
    """A key is read only from an allow-listed variable and sent only to a listed host: an
    allowed key sent to any public host the researcher picks would be a key given away."""
    if variable not in policy.secret_envs:
        names = ", ".join(sorted(policy.secret_envs)) or "none"
        raise PolicyViolation(
            "options",
            f"api_key_env {variable} is not in the operator's STEPWISE_SECRET_ENV_ALLOWLIST "
            f"(allowed: {names})",
        )
    host = urlsplit(endpoint).hostname or ""
    if not policy.endpoints.lists(host):
        raise PolicyViolation(
            "options",
            f"a key from api_key_env is sent only to a host the operator lists in "
            f"STEPWISE_ENDPOINT_ALLOWED_HOSTS; {host} is not listed",
        )


def check_model_config(
    *,
    kind: str,
    scorer_head: str | None,
    path_or_endpoint: str,
    options: Any,
    policy: BackendPolicy,
) -> None:
    """Everything about a model config that does not need the model: run on save and load."""
    if escape_controls(path_or_endpoint) != path_or_endpoint:
        raise PolicyViolation("path_or_endpoint", "control characters are not allowed here")
    if kind == "openai":
        policy.endpoints.check_url(path_or_endpoint)
    elif "://" in path_or_endpoint:
        raise PolicyViolation(
            "path_or_endpoint",
            f"a {kind} model is loaded from a directory on the worker, not a URL; use kind "
            "openai for an endpoint",
        )
    check_options(kind, scorer_head, options)
    endpoints = [path_or_endpoint, *_base_urls(options.get("base_urls", []), policy)]
    variable = options.get("api_key_env")
    if variable is not None:
        for endpoint in endpoints:  # the key goes to every endpoint
            check_api_key_env(variable, endpoint, policy)


def _base_urls(urls: list[Any], policy: BackendPolicy) -> list[str]:
    """An OpenAI-compatible model's further endpoints, each under the same policy as its
    path_or_endpoint (refusals name the option)."""
    for url in urls:
        if not isinstance(url, str):
            raise PolicyViolation("options", f"option base_urls must be {TYPE_NAMES[URLS]}")
        if escape_controls(url) != url:
            raise PolicyViolation("options", "base_urls: control characters are not allowed here")
        try:
            policy.endpoints.check_url(url)
        except PolicyViolation as error:
            raise PolicyViolation("options", f"base_urls: {error}") from None
    return urls
