"""A host-project view that sends mail the plain Django way (for middleware tests)."""

from django.core.mail import send_mail
from django.http import HttpResponse


def send_view(request):
    sent = send_mail("Hello {firma}", "Body", None, [request.GET.get("to", "x@example.com")])
    return HttpResponse(str(sent))
