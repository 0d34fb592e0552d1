from django.contrib import admin

from annotation.core.admin import ReadOnlyAdmin
from annotation.evaluation.models import Rollout, SuggestionSetting


@admin.register(Rollout)
class RolloutAdmin(ReadOnlyAdmin):
    list_display = ["job", "node", "index", "answer", "reached"]
    list_filter = ["reached"]


@admin.register(SuggestionSetting)
class SuggestionSettingAdmin(ReadOnlyAdmin):
    list_display = ["project", "shown", "changed_by", "changed_at"]
