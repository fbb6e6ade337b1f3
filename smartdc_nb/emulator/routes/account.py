"""Account, keys, datacenters, services, config and limits (cloudapi.md §6.1–6.3)."""

from __future__ import annotations

from urllib.parse import quote

from ..errors import invalid_argument, missing_parameter, not_found
from ..payloads import account_dict, datacenters_dict, key_dict
from .common import Ctx, Reply, json_reply

_PROFILE_FIELDS = ("companyName", "firstName", "lastName", "address", "postalCode", "city",
                   "state", "country", "phone")


def get_account(ctx: Ctx) -> Reply:
    return json_reply(account_dict(ctx.account))


def update_account(ctx: Ctx) -> Reply:
    account = ctx.account
    cns = ctx.params.get("triton_cns_enabled")
    if cns is not None:
        if cns in (True, "true"):
            cns = True
        elif cns in (False, "false"):
            cns = False
        else:
            raise invalid_argument("triton_cns_enabled must be true or false")
    email = ctx.params.get("email")
    if email is not None and not isinstance(email, str):
        raise invalid_argument("email must be a string")
    for name in _PROFILE_FIELDS:
        value = ctx.params.get(name)
        if value is not None and not isinstance(value, (str, int, float)):
            raise invalid_argument(f"{name} must be a string")
    if email:
        account.email = email
    for name in _PROFILE_FIELDS:
        if ctx.params.get(name) is not None:
            account.profile[name] = str(ctx.params[name])
    if cns is not None:
        account.triton_cns_enabled = cns
    account.updated = ctx.now
    ctx.state.save_account(account)
    return json_reply(account_dict(account))


def get_limits(ctx: Ctx) -> Reply:
    return json_reply([])


# ---------------------------------------------------------------------- keys


def list_keys(ctx: Ctx) -> Reply:
    return json_reply([key_dict(k) for k in ctx.account.keys.values()])


def get_key(ctx: Ctx) -> Reply:
    key = ctx.account.find_key(ctx.url["key"])
    if key is None:
        raise not_found(f"{ctx.url['key']} does not exist")
    return json_reply(key_dict(key))


def create_key(ctx: Ctx) -> Reply:
    line = ctx.params.get("key")
    if not line:
        raise missing_parameter("key is a required argument")
    if not isinstance(line, str):
        raise invalid_argument("key must be a String")
    if len(line.split(" ")) < 2:
        raise invalid_argument("key is invalid")
    name = ctx.params.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise invalid_argument("key already exists or is invalid")
    account = ctx.account
    try:
        from ..auth import load_public_key

        public = load_public_key(line)
    except ValueError:
        raise invalid_argument("key already exists or is invalid") from None
    if public.md5 in account.keys or (name and account.find_key(name)):
        raise invalid_argument("key already exists or is invalid")
    key = account.add_key(line, name)
    account.updated = ctx.now
    ctx.state.save_account(account)
    location = f"/{account.login}/keys/{quote(key.public.md5, safe='')}"
    return json_reply(key_dict(key), 201, {"Location": location})


def delete_key(ctx: Ctx) -> Reply:
    account = ctx.account
    key = account.find_key(ctx.url["key"])
    if key is None:
        raise not_found(f"{ctx.url['key']} does not exist")
    del account.keys[key.public.md5]
    account.updated = ctx.now
    ctx.state.save_account(account)
    return Reply(204)


# -------------------------------------------------- datacenters and services


def list_datacenters(ctx: Ctx) -> Reply:
    return json_reply(datacenters_dict(ctx.state), headers={"Triton-Datacenter-Name": ctx.dc.name})


def get_datacenter(ctx: Ctx) -> Reply:
    name = ctx.url["dc"]
    urls = datacenters_dict(ctx.state)
    if name not in urls:
        raise not_found(f"{name} is not an available datacenter")
    # CloudAPI's format string is empty, hence the leading space in the message.
    return json_reply({"code": "ResourceMoved", "message": f" {name} {urls[name]}"}, 302,
                      {"Location": urls[name]})


def list_services(ctx: Ctx) -> Reply:
    return json_reply({"cloudapi": ctx.dc.url})


# -------------------------------------------------------------------- config


def _config(ctx: Ctx) -> dict:
    config = ctx.dc.account_config.get(ctx.login)
    if config is None:
        default = next(iter(ctx.dc.networks.values()), None)
        config = {"default_network": default["id"] if default else None}
    return config


def get_config(ctx: Ctx) -> Reply:
    return json_reply(_config(ctx))


def update_config(ctx: Ctx) -> Reply:
    network = ctx.params.get("default_network")
    config = dict(_config(ctx))
    if network is not None:
        if not isinstance(network, str) or network not in ctx.dc.networks:
            raise invalid_argument("unknown network")
        config["default_network"] = network
    ctx.dc.account_config[ctx.login] = config
    ctx.state.save_config(ctx.dc, ctx.login)
    return json_reply(config)


ROUTES = [
    ("/<login>", "account", {"GET": get_account, "POST": update_account}),
    ("/<login>/limits", "account", {"GET": get_limits}),
    ("/<login>/keys", "keys", {"GET": list_keys, "POST": create_key}),
    ("/<login>/keys/<key>", "keys", {"GET": get_key, "DELETE": delete_key}),
    ("/<login>/datacenters", "datacenter", {"GET": list_datacenters}),
    ("/<login>/datacenters/<dc>", "datacenter", {"GET": get_datacenter}),
    ("/<login>/services", "services", {"GET": list_services}),
    ("/<login>/config", "config", {"GET": get_config, "PUT": update_config}),
]
