"""`python -m services.keys`: make, list and revoke API keys on the configured database.

create --name NAME --scope SCOPE [--scope SCOPE…] [--agent AGENT_ID]   prints the new key once
list                                                                   the keys, without secrets
revoke KEY_ID                                                          the key stops working
"""

from __future__ import annotations

import argparse
import json
import sys

from services.core import apikeys
from services.core.apikeys import InvalidKeyRequest, parse_scopes
from services.core.runtime import process_runtime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key and print it (shown only once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, dest="scopes")
    create.add_argument("--agent", dest="agent_id", help="the agent a tickets:agent key acts as")
    commands.add_parser("list", help="list the keys")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    store = process_runtime().keys
    if args.command == "create":
        try:
            key, token = store.create(args.name, parse_scopes(args.scopes), args.agent_id)
        except InvalidKeyRequest as exc:
            parser.error(str(exc))
        print(json.dumps({**apikeys.to_api(key), "key": token}, indent=2))
    elif args.command == "list":
        for key in store.all():
            print(json.dumps(apikeys.to_api(key)))
    elif not store.revoke(args.key_id):
        print(f"no key with id {args.key_id}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
