"""The 0.1 name of :mod:`symfonia_mail.content.templated`, kept so that old imports keep working.

``symfonia_mail.templates`` sat beside the ``templates/`` folder of template files; the
module is now ``templated`` (templated messages: resolution, build, send, preview).
Importing this name gives the very same module object.
"""

import sys
from typing import TYPE_CHECKING

from .content import templated

if TYPE_CHECKING:  # type checkers see the names; at run time the module itself is swapped in
    from .content.templated import *  # noqa: F403

sys.modules[__name__] = templated
