"""``GET {base}terrarium/``: a live page of every agent, fed by the observe streams."""

from __future__ import annotations

import json
from importlib.resources import files

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado.escape import xhtml_escape
from tornado.httputil import url_concat

from jupyter_extension.handlers.base import TerrariumMixin


class DashboardHandler(TerrariumMixin, JupyterHandler):
    @allow_unauthenticated
    async def get(self) -> None:
        if not self.context.public_observe and self.current_user is None:
            login = self.get_login_url()
            self.redirect(url_concat(login, {"next": self.request.uri or ""}))
            return
        await self.check_read_access()
        config = {"baseUrl": self.base_url, "version": self.context.version}
        template = files("jupyter_extension").joinpath("static", "dashboard.html").read_text()
        script = url_path_join(self.static_url_prefix, "dashboard.js")
        # Reading xsrf_token sets the _xsrf cookie that the page's REST calls send back.
        self.xsrf_token  # noqa: B018
        page = template.replace("{{ config }}", json.dumps(config).replace("</", "<\\/")).replace(
            "{{ script }}", xhtml_escape(script)
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)
