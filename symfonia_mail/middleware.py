"""Make the request's user the sender of plain ``send_mail`` calls."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .context import reset_request_user, set_request_user


class CurrentUserMiddleware:
    """Hold ``request.user`` in a context variable for the duration of the request.

    Put it after ``AuthenticationMiddleware``. The user object stays lazy: a
    request that sends no mail never loads it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self.__acall__(request)
        token = set_request_user(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            reset_request_user(token)

    async def __acall__(self, request):
        token = set_request_user(getattr(request, "user", None))
        try:
            return await self.get_response(request)
        finally:
            reset_request_user(token)
