"""The 0.1 name of :mod:`symfonia_mail.templated`, kept so that old imports keep working.

``symfonia_mail.templates`` sat beside the ``templates/`` folder of template files; the
module is now ``templated`` (templated messages: resolution, build, send, preview).
Importing this name gives the very same module object.
"""

import sys

from . import templated

sys.modules[__name__] = templated
