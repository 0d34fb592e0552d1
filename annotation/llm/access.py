"""The door to model configs and prompts (see annotation/core/access.py)."""

from typing import Any

from django.http import Http404

from annotation.core.access import Ability, check_ability
from annotation.llm.models import ModelConfig, PromptTemplate


def access_model_config(user: Any, config_id: int, need: Ability = Ability.RESEARCH) -> ModelConfig:
    config = ModelConfig.objects.select_related("project").filter(pk=config_id).first()
    if config is None:
        raise Http404("No such model")
    check_ability(user, config.project, need)
    return config


def access_prompt_template(
    user: Any, template_id: int, need: Ability = Ability.RESEARCH
) -> PromptTemplate:
    template = PromptTemplate.objects.select_related("project").filter(pk=template_id).first()
    if template is None:
        raise Http404("No such prompt")
    check_ability(user, template.project, need)
    return template
