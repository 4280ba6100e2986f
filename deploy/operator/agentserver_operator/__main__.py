"""``python -m agentserver_operator [kopf run options]``: the same as
``kopf run -m agentserver_operator``, watching every namespace unless told
otherwise (``--namespace``), standalone (one operator pod, no peering)."""

from __future__ import annotations

import sys

from kopf import cli


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    scoped = ("-A", "--all-namespaces", "-n", "--namespace")
    if not any(arg.startswith(scoped) for arg in args):
        args.append("--all-namespaces")
    if not any(arg.startswith(("--standalone", "--peering")) for arg in args):
        args.append("--standalone")
    cli.main.main(
        args=["run", "-m", "agentserver_operator", *args], prog_name="agentserver_operator"
    )


if __name__ == "__main__":
    main()
