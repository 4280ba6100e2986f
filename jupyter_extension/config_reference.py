"""The configuration reference, ``docs/configuration.md``, rendered from the traits.

Every configurable trait of ``TerrariumApp`` becomes a row: name, type,
default, the command-line form and its help, so the page cannot drift from the
code. The prose around the tables (what a client can make the server hold,
pings, environment variables) is kept here and emitted as it is. Regenerate
the page after changing a trait::

    uv run python -m jupyter_extension.config_reference > docs/configuration.md

``tests/test_config_reference.py`` fails while the committed page differs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitType, Unicode
from traitlets.config import Configurable

from jupyter_extension.app import TerrariumApp

COMMAND = "uv run python -m jupyter_extension.config_reference > docs/configuration.md"
PACKAGE_DIR = str(Path(__file__).parent)  # as app.py computes its static path
MIB = 1024 * 1024

#: Defaults decided when the server starts (a ``@default`` method, or an empty value the
#: server fills in), as the page shows them.
COMPUTED_DEFAULTS: dict[str, str] = {
    "purgatory_path": "`<jupyter data dir>/terrarium/purgatory.sqlite`",
    "redis_url": "`$TERRARIUM_REDIS_URL`, else empty",
    "replica_id": "host, process id and a random suffix",
}

INTRO = """\
# Configuration

<!-- Generated from the traits: {command} -->

Terrarium is configured through the traits of `TerrariumApp`, the Jupyter server
extension. Set them on the command line (`--TerrariumApp.history_size=500`), in
`jupyter_server_config.py` (`c.TerrariumApp.history_size = 500`) or in
`jupyter_server_config.json` (`{{"TerrariumApp": {{"history_size": 500}}}}`, as the
[Kubernetes operator](kubernetes.md) writes it). `uv run jupyter terrarium --help-all`
prints every trait with its full help.

The extension is enabled on install. `jupyter terrarium` turns `demo_agents` on;
inside an ordinary `jupyter lab` it serves the agents you configure (no demo agents).
The Jupyter server's own settings (port, `base_url`, token) are `ServerApp` and
`IdentityProvider` traits: `jupyter server --help-all`.
"""

OWN_SECTION = """\
## `TerrariumApp`

The backplane traits (`redis_*`, `replica_id`) matter only in distributed mode:
see [Scaling out](scaling.md).
"""

PROSE = """\
## Bounds

What a client can make the server hold is bounded by these settings:

- **An agent's mirror** keeps each event once, as the frame it sends, in
  `max(history_size, observer_queue_size)` slots: at most `mirror_max_bytes`
  plus the newest event (kept whatever its size), plus about 50 bytes per
  slot. With the defaults: 64 MiB plus one event, plus 50 KiB.
- **An observer** holds no copy of its own: what it has not read yet is the
  mirror's frames, and its socket's kernel buffer is capped at 128 KiB.
- **A perturb socket** holds at most `perturb_backlog_bytes` of unread
  replies, plus one frame of up to `max_message_size` being read; its
  queued requests count against the agent's `buffer_size`.
- **Client JSON** (frames and bodies) may nest arrays and objects at most 100
  levels deep; deeper is refused with `bad_request`.
- **A refused handshake** (no `Upgrade`, a foreign `Origin`, a bad `since`)
  leaves nothing behind.

What one agent costs Redis in distributed mode is in
[Scaling out](scaling.md#what-an-agent-costs-redis).

## Pings

Observe sockets are pinged as jupyter_server pings its own WebSockets: every
`ws_ping_interval` milliseconds (30,000), and one that has not answered
within `ws_ping_timeout` is closed with 1001; set both through
`--ServerApp.tornado_settings='{"ws_ping_interval": 10000}'` (0 turns pings
off). One timer pings every observer, rather than a timer per connection.

## Auditing

Every accepted perturbation is also recorded as a Jupyter Event (schema
`https://terrarium.dev/events/perturbation`: agent, perturbation id,
priority, user, door), so an administrator can audit who perturbed what with
Jupyter's own event logging (`EventLogger.handlers`).
"""

ENVIRONMENT_SECTION = """\
## Environment variables
"""

#: Variable, who reads it, what it means.
ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    (
        "`TERRARIUM_REDIS_URL`",
        "the server",
        "the default of `redis_url`: set, the replica runs distributed ([Scaling out](scaling.md))",
    ),
    (
        "`TERRARIUM_URL`, `TERRARIUM_TOKEN` (or `JUPYTER_TOKEN`)",
        "`terrarium.connect()`, the `terrarium` command",
        "the server to talk to, when no `url`/`token` is given"
        " ([Prism and the command line](prism-and-cli.md),"
        " [Notebooks](notebooks-and-widgets.md))",
    ),
    (
        "`JUPYTER_TOKEN`",
        "the gateway pods",
        "the token, from the AgentServer's Secret ([Kubernetes](kubernetes.md))",
    ),
    (
        "`TERRARIUM_OPERATOR_STATUS_INTERVAL`",
        "the operator",
        "seconds between its status checks (30)",
    ),
    (
        "`TERRARIUM_REQUIRE_BROWSER`, `TERRARIUM_REQUIRE_REDIS`,"
        " `TERRARIUM_REQUIRE_NODE`, `TERRARIUM_REQUIRE_KUBECTL`",
        "the tests",
        "a missing Chromium, `redis-server`, Node.js or kubectl fails its tests"
        " instead of skipping them ([Development](development.md))",
    ),
    (
        "`TERRARIUM_FUZZ_EXAMPLES`, `TERRARIUM_PROPERTY_SCALE`",
        "the tests",
        "longer API fuzzing and property runs ([Reliability](reliability.md))",
    ),
)

INHERITED_SECTION = """\
## Inherited traits

`TerrariumApp` is a jupyter_server `ExtensionApp`; these traits come from it and
from traitlets' `Application`. Defaults marked *computed* are set when the server
starts.
"""


def _cell(text: str) -> str:
    """One table cell: a single line, with the pipes that would split it escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def type_name(trait: TraitType[Any, Any]) -> str:
    """The trait's type as a reader writes it: ``int``, ``list[str]``, ``gap | close``."""
    if isinstance(trait, Enum):
        return " | ".join(_code(str(value)) for value in trait.values or ())
    if isinstance(trait, Bool):
        return "bool"
    if isinstance(trait, Int):
        return "int"
    if isinstance(trait, Float):
        return "float"
    if isinstance(trait, Unicode):
        return "str"
    if isinstance(trait, List):
        item = getattr(trait, "_trait", None)
        return f"list[{type_name(item)}]" if isinstance(item, TraitType) else "list"
    if isinstance(trait, Dict):
        return "dict"
    return type(trait).__name__


def _computed(cls: type[Configurable], name: str) -> bool:
    """Whether some class of ``cls``'s lineage computes the default in a ``@default`` method."""
    for klass in cls.__mro__:
        generators = klass.__dict__.get("_trait_default_generators", {})
        if name in generators:
            return True
    return False


def default_text(cls: type[Configurable], name: str, trait: TraitType[Any, Any]) -> str:
    """The default as the page shows it: literal, with paths of this checkout left out."""
    if name in COMPUTED_DEFAULTS:
        return COMPUTED_DEFAULTS[name]
    if _computed(cls, name):
        return "*computed*"
    value = trait.default_value
    if isinstance(value, str):
        return _code(value) if value else "empty"
    if isinstance(value, bool | float):
        return _code(repr(value))
    if isinstance(value, int):
        shown = _code(repr(value))
        if value >= MIB and value % MIB == 0 and name.endswith(("bytes", "size")):
            shown += f" ({value // MIB} MiB)"
        return shown
    shown = trait.default_value_repr().replace(PACKAGE_DIR, "<jupyter_extension>")
    return _code(shown)


def command_line(cls: type[Configurable], trait: TraitType[Any, Any]) -> str:
    """traitlets' own command-line form: ``--TerrariumApp.history_size=<Int>``."""
    first: str = cls.class_get_trait_help(trait).splitlines()[0]
    return first.strip()


def help_text(trait: TraitType[Any, Any], *, first_sentence: bool = False) -> str:
    text = " ".join((trait.help or "").split())
    if first_sentence and ". " in text:
        text = text.split(". ", 1)[0] + "."
    return text or "(no help text)"


def table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    """A Markdown table; each cell on one line."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def trait_table(
    cls: type[Configurable], names: Iterable[str], *, first_sentence: bool = False
) -> str:
    """A Markdown table of ``cls``'s configurable traits, in the given order."""
    traits = cls.class_traits(config=True)
    rows = (
        (
            _code(name),
            type_name(traits[name]),
            default_text(cls, name, traits[name]),
            _code(command_line(cls, traits[name])),
            help_text(traits[name], first_sentence=first_sentence),
        )
        for name in names
    )
    return table(("trait", "type", "default", "command line", "help"), rows)


def own_traits(cls: type[Configurable]) -> list[str]:
    """Traits ``cls`` declares itself, in the order of its source."""
    own = cls.class_own_traits(config=True)
    return [name for name in cls.__dict__ if name in own]


def inherited_traits(cls: type[Configurable]) -> list[str]:
    own = set(cls.class_own_traits(config=True))
    return sorted(name for name in cls.class_traits(config=True) if name not in own)


def render(cls: type[Configurable] = TerrariumApp) -> str:
    """The whole page."""
    parts = [
        INTRO.format(command=COMMAND),
        OWN_SECTION,
        trait_table(cls, own_traits(cls)),
        PROSE,
        ENVIRONMENT_SECTION,
        table(("variable", "read by", "meaning"), ENVIRONMENT),
        INHERITED_SECTION,
        trait_table(cls, inherited_traits(cls), first_sentence=True),
    ]
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
