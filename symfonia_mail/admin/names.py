"""Titles, messages and empty choices that read right in Polish.

Django's admin puts a model's name into sentences ("Wybierz %s do zmiany",
"Usuń wybrane(-nych) %(verbose_name_plural)s", "{name} „{obj}” został(a)(-ło)
dodany(-na)(-ne) pomyślnie"), where Polish needs another case or gender. These
say the same with the name standing alone, in the nominative.
"""

from django.contrib import messages
from django.contrib.admin.utils import model_format_dict
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .forms import EMPTY_CHOICE, relabel_empty_choice

ADDED = _("Added: {name} “{obj}”.")
CHANGED = _("Saved: {name} “{obj}”.")
DELETE_SELECTED = _("Delete selected: %(verbose_name_plural)s")


class ReadableNamesMixin:
    """Name the model on its own in titles and messages; translate the empty choice."""

    add_title: "str | Promise | None" = None  # e.g. _("New contractor"); else the model's name

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        return relabel_empty_choice(field) if field is not None else None

    def get_action_choices(self, request, default_choices=None, action_location=None):
        # Django 6.1 passes action_location (and warns about an override without it).
        location = {} if action_location is None else {"action_location": action_location}
        choices = super().get_action_choices(request, [("", EMPTY_CHOICE)], **location)
        if getattr(action_location, "name", "CHANGE_LIST") != "CHANGE_LIST":
            return choices
        delete = DELETE_SELECTED % model_format_dict(self.opts)
        return [(name, delete if name == "delete_selected" else label)
                for name, label in choices]

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": capfirst(self.opts.verbose_name_plural),
                         **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):
        context["title"] = (self.add_title if add and self.add_title
                            else capfirst(self.opts.verbose_name))
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Django's response_add/response_change send one success message: ours instead.
    def response_add(self, request, obj, post_url_continue=None):
        request._symfonia_saved_message = (ADDED, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        request._symfonia_saved_message = (CHANGED, obj)
        return super().response_change(request, obj)

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        saved = getattr(request, "_symfonia_saved_message", None)
        if saved is not None and level == messages.SUCCESS:
            del request._symfonia_saved_message
            text, obj = saved
            message = str(text).format(name=self.opts.verbose_name, obj=obj)
        return super().message_user(request, message, level, *args, **kwargs)
