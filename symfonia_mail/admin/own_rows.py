"""The admin's "own rows only" rule, in one place.

A superuser sees every row. Anybody else sees the rows whose ``owner_field``
is them (and, with ``show_unowned``, the rows that belong to nobody, such as
global templates, read-only) and changes or deletes only their own.
"""

from django.db.models import Q


class OwnRowsMixin:
    """Limit a ModelAdmin's rows and object permissions to the requesting user's own."""

    owner_field = "user"  # the ForeignKey to the user who owns a row
    show_unowned = False  # rows without an owner are visible (not editable) to everybody

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        visible = Q(**{self.owner_field: request.user})
        if self.show_unowned:
            visible |= Q(**{f"{self.owner_field}__isnull": True})
        return queryset.filter(visible)

    def owns(self, request, obj):
        """Return True when *request*'s user may change *obj* (None: the list)."""
        if obj is None or request.user.is_superuser:
            return True
        return getattr(obj, f"{self.owner_field}_id") == request.user.pk

    def has_view_permission(self, request, obj=None):
        unowned = (self.show_unowned and obj is not None
                   and getattr(obj, f"{self.owner_field}_id") is None)
        return super().has_view_permission(request, obj) and (
            unowned or self.owns(request, obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.owns(request, obj)
