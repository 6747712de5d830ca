"""Domain values to response bodies, where more than ``model_validate`` is needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agent_api.schemas import (
    CallbackOut,
    CategoryOut,
    InteractionOut,
    RegistrationOut,
    TimerOut,
    TopicOut,
)
from campaigns.callbacks import Callback
from campaigns.wrapup import Category, Interaction, Registration, Topic, wrapup_timer


def interaction_out(interaction: Interaction, now: datetime) -> InteractionOut:
    timer = wrapup_timer(interaction, now)
    out = InteractionOut.model_validate(interaction)
    return out.model_copy(update={"timer": TimerOut.model_validate(timer) if timer else None})


def categories_out(categories: Sequence[Category], topics: Sequence[Topic]) -> list[CategoryOut]:
    by_category: dict[int, list[TopicOut]] = {}
    for topic in topics:
        by_category.setdefault(topic.category_id, []).append(TopicOut.model_validate(topic))
    return [
        CategoryOut.model_validate(c).model_copy(update={"topics": by_category.get(c.id, [])})
        for c in categories
    ]


def registration_out(registration: Registration, callback: Callback | None) -> RegistrationOut:
    out = RegistrationOut.model_validate(registration)
    return out.model_copy(
        update={"callback": CallbackOut.model_validate(callback) if callback else None}
    )
