"""An authorizer for the server tests: every resource is allowed but ``terrarium``,
which gets only the actions listed in ``ScopedAuthorizer.terrarium_actions``."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from traitlets import List, Unicode


class ScopedAuthorizer(Authorizer):
    terrarium_actions = List(Unicode(), ["read"]).tag(config=True)

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if resource != "terrarium":
            return True
        return action in self.terrarium_actions
