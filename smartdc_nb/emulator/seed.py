"""The deterministic demo cloud: catalog, networks and a realistic fleet.

The catalog (packages, images) and networks get fixed UUIDs (uuid5 of their
names), so notebooks can rely on them. The fleet is a function of
``(seed, datacenter name, size)``: the same seed gives the same machines. Times
are relative to the start of the current UTC day, so a fleet looks equally old
whenever it is built.

The fleet carries patterns a fleet analysis can find: older machines run older
images; dev and test machines are often stopped (and stay stopped for months);
production databases are large, deletion-protected and have stale snapshots;
some machines have no tags or no ``owner`` tag; a few are failed, offline or
deleted (tombstones).
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import random
import uuid
from datetime import datetime, timezone
from typing import Any

from .store import Account, Datacenter, Machine, State
from .timeline import audit_entry

_NS = uuid.UUID("5b0e1e2a-7f0e-4c5e-9b9a-6d2a3c1f0e11")
ADMIN_UUID = "930896af-bf8c-48d4-885c-6573a94b1853"
DAY = 86400.0


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def servers_of(dc_name: str) -> list[str]:
    """The compute nodes of a datacenter (their uuids)."""
    return [stable_uuid("server", dc_name, str(i)) for i in range(12)]


def anchor_time() -> float:
    """Midnight UTC today: the fleet's "now" for ages, stable within a day."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.timestamp()


# ------------------------------------------------------------------ catalog

# name, memory MiB, disk GiB, vcpus, group, brand, extra
_PACKAGES = [
    ("g4-highcpu-512M", 512, 10, 1, "High CPU", None, {}),
    ("g4-highcpu-1G", 1024, 25, 1, "High CPU", None, {"version": "1.1.0"}),
    ("g4-highcpu-2G", 2048, 50, 2, "High CPU", None, {}),
    ("g4-highcpu-4G", 4096, 100, 4, "High CPU", None, {}),
    ("g4-highcpu-8G", 8192, 200, 8, "High CPU", None, {}),
    ("g4-highcpu-16G", 16384, 400, 16, "High CPU", None, {}),
    ("g4-general-4G", 4096, 100, 1, "General Purpose", None, {"default": True}),
    ("g4-general-8G", 8192, 200, 2, "General Purpose", None, {}),
    ("g4-general-16G", 16384, 400, 4, "General Purpose", None, {}),
    ("g4-general-32G", 32768, 800, 8, "General Purpose", None, {}),
    ("g4-highram-32G", 32768, 400, 4, "High Memory", None, {}),
    ("g4-highram-64G", 65536, 800, 8, "High Memory", None, {}),
    ("k4-highcpu-kvm-1.75G", 1792, 50, 1, "KVM", "kvm", {}),
    ("k4-highcpu-kvm-3.75G", 3840, 100, 2, "KVM", "kvm", {}),
    ("k4-general-kvm-7.75G", 7936, 200, 2, "KVM", "kvm", {}),
    ("b1-highcpu-bhyve-2G", 2048, 50, 2, "Bhyve", "bhyve", {"flexible_disk": True}),
    ("b1-general-bhyve-8G", 8192, 200, 4, "Bhyve", "bhyve", {"flexible_disk": True}),
    ("b1-highram-bhyve-32G", 32768, 400, 8, "Bhyve", "bhyve", {"flexible_disk": True}),
    # an older version of a name (lookups by name pick the newest active one)
    ("g4-highcpu-1G", 1024, 20, 1, "High CPU", None, {"version": "1.0.0", "active": False}),
    # retired, still referenced by old machines
    ("g3-standard-1.75-smartos", 1792, 56, 1, "Legacy", None, {"active": False}),
]

# name, version, os, type, brand requirement, published (year, month), extra
_IMAGES = [
    ("base-64-lts", "18.4.0", "smartos", "zone-dataset", None, (2019, 1), {}),
    ("base-64-lts", "19.4.0", "smartos", "zone-dataset", None, (2020, 1), {}),
    ("base-64-lts", "20.4.0", "smartos", "zone-dataset", None, (2021, 1), {}),
    ("base-64-lts", "21.4.0", "smartos", "zone-dataset", None, (2022, 1), {}),
    ("base-64-lts", "22.4.0", "smartos", "zone-dataset", None, (2023, 1), {}),
    ("base-64-lts", "23.4.0", "smartos", "zone-dataset", None, (2024, 1), {}),
    ("minimal-64-lts", "23.4.0", "smartos", "zone-dataset", None, (2024, 1), {}),
    ("ubuntu-20.04", "20200806", "linux", "lx-dataset", "lx", (2020, 8), {}),
    ("ubuntu-22.04", "20230317", "linux", "lx-dataset", "lx", (2023, 3), {}),
    ("alpine-3", "20220707", "linux", "lx-dataset", "lx", (2022, 7), {}),
    ("centos-7", "20190816", "linux", "lx-dataset", "lx", (2019, 8), {"state": "disabled"}),
    ("ubuntu-certified-20.04", "20210413", "linux", "zvol", None, (2021, 4), {}),
    ("ubuntu-certified-22.04", "20230406", "linux", "zvol", None, (2023, 4), {}),
    ("ubuntu-certified-24.04", "20240612", "linux", "zvol", None, (2024, 6), {}),
    ("debian-11", "20220801", "linux", "zvol", None, (2022, 8), {}),
    ("debian-12", "20240115", "linux", "zvol", None, (2024, 1), {}),
    ("win2019-std", "20211020", "windows", "zvol", None, (2021, 10), {"min_ram": 4096}),
]


def build_catalog(state: State, owner_uuid: str | None) -> None:
    """Packages and images shared by every datacenter."""
    for name, memory, disk_gib, vcpus, group, brand, extra in _PACKAGES:
        version = extra.get("version", "1.0.0")
        pkg = {"id": stable_uuid("package", name, version), "name": name, "memory": memory,
               "disk": disk_gib * 1024, "swap": memory * 2, "lwps": 4000, "vcpus": vcpus,
               "version": version, "group": group,
               "description": f"{group} {memory // 1024 if memory >= 1024 else memory}"
                              f"{'G' if memory >= 1024 else 'M'} RAM, {disk_gib} GB disk",
               "default": extra.get("default", False), "active": extra.get("active", True)}
        if brand:
            pkg["brand"] = brand
        if "flexible_disk" in extra:
            pkg["flexible_disk"] = extra["flexible_disk"]
        state.packages[pkg["id"]] = pkg
    for name, version, os_name, kind, brand, (year, month), extra in _IMAGES:
        published = datetime(year, month, 15, 10, 30, tzinfo=timezone.utc)
        image: dict[str, Any] = {
            "id": stable_uuid("image", name, version), "name": name, "version": version,
            "os": os_name, "requirements": {}, "type": kind,
            "description": f"{name} {version}: a {os_name} {kind} image",
            "files": [{"compression": "gzip",
                       "sha1": uuid.uuid5(_NS, name + version).hex[:40].ljust(40, "0"),
                       "size": 300_000_000 + (hash_text(name + version) % 700_000_000)}],
            "homepage": f"https://docs.example.com/images/{name}",
            "published_at": published.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "owner": ADMIN_UUID, "public": True, "state": extra.get("state", "active"),
        }
        if brand:
            image["requirements"]["brand"] = brand
        if "min_ram" in extra:
            image["requirements"]["min_ram"] = extra["min_ram"]
        if kind == "zvol":
            image["image_size"] = 10240
        state.images[image["id"]] = image
    if owner_uuid:
        base = stable_uuid("image", "base-64-lts", "23.4.0")
        custom = {
            "id": stable_uuid("image", "my-app-base", "1.4.2"), "name": "my-app-base",
            "version": "1.4.2", "os": "smartos", "requirements": {}, "type": "zone-dataset",
            "description": "the account's own application base image",
            "files": [{"compression": "gzip", "sha1": "0" * 40, "size": 180_000_000}],
            "published_at": "2024-09-02T08:00:00Z", "owner": owner_uuid, "public": False,
            "state": "active", "origin": base, "tags": {"role": "app"},
        }
        state.images[custom["id"]] = custom


def hash_text(text: str) -> int:
    """A hash that does not change between runs (str hashes are salted)."""
    return int(uuid.uuid5(_NS, text).int % 2**31)


def build_networks(dc: Datacenter) -> None:
    i = dc.index
    nets = [
        {"id": stable_uuid("network", dc.name, "public"), "name": "Joyent-SDC-Public",
         "public": True, "description": f"Public internet access in {dc.name}",
         "_cidr": f"165.225.{128 + i * 8}.0/21"},
        {"id": stable_uuid("network", dc.name, "private"), "name": "Joyent-SDC-Private",
         "public": False, "description": f"Private network in {dc.name}",
         "_cidr": f"10.{64 + i}.0.0/16"},
        {"id": stable_uuid("network", dc.name, "fabric"), "name": "My-Fabric-Network",
         "public": False, "fabric": True, "description": "The account's default fabric",
         "subnet": "192.168.128.0/22", "provision_start_ip": "192.168.128.5",
         "provision_end_ip": "192.168.131.250", "gateway": "192.168.128.1",
         "resolvers": ["8.8.8.8", "8.8.4.4"], "internet_nat": True, "vlan_id": 2,
         "_cidr": "192.168.128.0/22"},
    ]
    dc.networks = {n["id"]: n for n in nets}


@functools.lru_cache(maxsize=64)
def _network(cidr: str) -> tuple[ipaddress.IPv4Network, str, str]:
    """The subnet, its gateway (.1) and netmask, parsed once (shared strings save memory)."""
    net = ipaddress.IPv4Network(cidr)
    return net, str(net.network_address + 1), str(net.netmask)


def make_nic(network: dict[str, Any], rng: random.Random, primary: bool) -> dict[str, Any]:
    """A NIC on ``network`` with a random address of its subnet."""
    net, gateway, netmask = _network(network["_cidr"])
    ip = net.network_address + 5 + rng.randrange(net.num_addresses - 6)
    tail = f"{rng.getrandbits(24):06x}"
    mac = f"90:b8:d0:{tail[0:2]}:{tail[2:4]}:{tail[4:6]}"
    return {"mac": mac, "ip": str(ip), "primary": primary, "gateway": gateway, "netmask": netmask,
            "network": network["id"]}


# -------------------------------------------------------------------- fleet

# role: (weight, team, [(brand, image name, package names)], public nic)
_ROLES: dict[str, tuple[int, str, list[tuple[str, str, list[str]]], bool]] = {
    "web": (20, "web", [("joyent", "base-64-lts", ["g4-highcpu-1G", "g4-highcpu-2G", "g4-highcpu-4G"]),
                        ("lx", "ubuntu-22.04", ["g4-highcpu-2G", "g4-highcpu-4G"])], True),
    "api": (16, "platform", [("joyent", "base-64-lts", ["g4-highcpu-2G", "g4-highcpu-4G", "g4-general-8G"]),
                             ("lx", "ubuntu-20.04", ["g4-highcpu-4G"])], True),
    "db": (9, "data", [("bhyve", "ubuntu-certified-22.04", ["b1-general-bhyve-8G", "b1-highram-bhyve-32G"]),
                       ("joyent", "base-64-lts", ["g4-highram-32G", "g4-highram-64G", "g4-general-16G"]),
                       ("kvm", "ubuntu-certified-20.04", ["k4-general-kvm-7.75G"])], False),
    "cache": (7, "platform", [("joyent", "base-64-lts", ["g4-general-4G", "g4-general-8G"])], False),
    "worker": (14, "payments", [("lx", "ubuntu-22.04", ["g4-highcpu-2G", "g4-highcpu-4G", "g4-highcpu-8G"]),
                                ("lx", "alpine-3", ["g4-highcpu-1G"])], False),
    "lb": (5, "infra", [("joyent-minimal", "minimal-64-lts", ["g4-highcpu-512M", "g4-highcpu-1G"])], True),
    "search": (4, "data", [("bhyve", "debian-12", ["b1-general-bhyve-8G", "b1-highram-bhyve-32G"])], False),
    "queue": (4, "payments", [("joyent", "base-64-lts", ["g4-general-4G"])], False),
    "ci": (6, "infra", [("lx", "ubuntu-22.04", ["g4-highcpu-8G", "g4-highcpu-16G"]),
                        ("kvm", "debian-11", ["k4-highcpu-kvm-3.75G"])], False),
    "bastion": (2, "infra", [("joyent-minimal", "minimal-64-lts", ["g4-highcpu-512M"])], True),
    "monitoring": (4, "infra", [("lx", "ubuntu-20.04", ["g4-general-4G"]),
                                ("bhyve", "ubuntu-certified-24.04", ["b1-highcpu-bhyve-2G"])], False),
    "analytics": (3, "data", [("bhyve", "ubuntu-certified-22.04", ["b1-highram-bhyve-32G"])], False),
    "build-win": (2, "mobile", [("kvm", "win2019-std", ["k4-general-kvm-7.75G"])], False),
    "app": (4, "web", [("joyent", "my-app-base", ["g4-highcpu-2G"])], True),
}
_ENVS = [("prod", 45), ("staging", 20), ("dev", 25), ("test", 10)]
_OWNERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
_STOPPED_SHARE = {"prod": 0.03, "staging": 0.12, "dev": 0.38, "test": 0.30}


class _Fleet:
    """Builds one datacenter's machines (state kept here to keep the loop flat)."""

    def __init__(self, state: State, dc: Datacenter, account: Account | None, seed: int):
        self.state, self.dc = state, dc
        self.rng = random.Random(f"smartdc_nb:{seed}:{dc.name}")
        self.anchor = anchor_time()
        self.owner = account.uuid if account else ADMIN_UUID
        self.keys = "".join(k.public.openssh + "\n" for k in account.keys.values()) if account else ""
        key_id = (f"/{account.login}/keys/{next(iter(account.keys.values())).public.md5}"
                  if account and account.keys else None)
        self.caller = {"type": "signature", "ip": "10.88.0.15", "keyId": key_id} if key_id \
            else {"type": "operator"}
        self.images_by_name: dict[str, list[dict[str, Any]]] = {}
        for image in state.images.values():
            self.images_by_name.setdefault(image["name"], []).append(image)
        for versions in self.images_by_name.values():
            versions.sort(key=lambda im: im["published_at"])
        self.published = {im["id"]: datetime.strptime(im["published_at"], "%Y-%m-%dT%H:%M:%SZ")
                          .replace(tzinfo=timezone.utc).timestamp() for im in state.images.values()}
        self.packages = {p["name"]: p for p in state.packages.values() if p.get("active", True)}
        self.legacy_package = next((p for p in state.packages.values()
                                    if p["name"] == "g3-standard-1.75-smartos"), None)
        self.servers = servers_of(dc.name)
        nets = list(dc.networks.values())
        self.public, self.private, self.fabric = nets[0], nets[1], nets[2]
        self.roles = list(_ROLES)
        self.role_weights = list(itertools.accumulate(_ROLES[r][0] for r in self.roles))
        self.envs = [e for e, _ in _ENVS]
        self.env_weights = list(itertools.accumulate(w for _, w in _ENVS))
        self.counters: dict[tuple[str, str], int] = {}

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def image_for(self, name: str, created: float) -> dict[str, Any]:
        versions = self.images_by_name.get(name) or self.images_by_name["base-64-lts"]
        usable = [im for im in versions if self.published[im["id"]] <= created] or versions[:1]
        # most machines run the newest image of their day; some lag one version behind
        if len(usable) > 1 and self.rng.random() < 0.25:
            return usable[-2]
        return usable[-1]

    def machine(self) -> Machine:
        rng = self.rng
        role = rng.choices(self.roles, cum_weights=self.role_weights)[0]
        _w, team, variants, public = _ROLES[role]
        env = rng.choices(self.envs, cum_weights=self.env_weights)[0]
        brand, image_name, package_names = rng.choice(variants)
        age_days = min(6 * 365, rng.expovariate(1 / 420.0)) + rng.random()
        created = self.anchor - age_days * DAY - rng.random() * 3600
        image = self.image_for(image_name, created)
        package = self.packages[rng.choice(package_names)]
        if brand == "joyent" and age_days > 4 * 365 and self.legacy_package and rng.random() < 0.5:
            package = self.legacy_package
        if env in ("prod", "staging") and role == "db" and package["memory"] < 16384:
            bigger = [self.packages[n] for n in package_names if self.packages[n]["memory"] >= 16384]
            package = bigger[0] if bigger else package
        key = (role, env)
        self.counters[key] = self.counters.get(key, 0) + 1
        name = f"{role}-{env}-{self.counters[key]:02d}"
        machine_id = self.uuid()
        state, updated = self.pick_state(env, created)
        nics = []
        if public and env in ("prod", "staging"):
            nics.append(make_nic(self.public, rng, True))
        nics.append(make_nic(self.fabric if rng.random() < 0.3 else self.private, rng, not nics))
        m = Machine(
            id=machine_id, name=name, brand=brand, state=state, image=image["id"],
            package_id=package["id"], memory=package["memory"], disk=package["disk"],
            created=round(created, 3), updated=round(updated, 3), owner=self.owner,
            compute_node=rng.choice(self.servers), nics=nics if state != "failed" else [],
            firewall_enabled=rng.random() < (0.7 if env == "prod" else 0.2),
            deletion_protection=rng.random() < (0.9 if env == "prod" and role == "db"
                                                 else 0.3 if env == "prod" else 0.02),
            docker=brand == "lx" and rng.random() < 0.05,
        )
        m.tags = self.tags(role, env, team)
        m.metadata = self.metadata(role, env)
        if image["os"] == "windows":
            m.credentials = {"administrator": f"Pw-{machine_id[:8]}"}
        elif rng.random() < 0.15:
            m.credentials = {"root": f"r00t-{machine_id[24:]}"}
        if brand == "bhyve":
            m.disks = [{"id": self.uuid(), "size": 10240, "block_size": 8192, "boot": True,
                        "image": image["id"]},
                       {"id": self.uuid(), "size": package["disk"] - 10240, "block_size": 8192}]
        if brand != "kvm" and state not in ("failed",) and rng.random() < 0.25:
            self.snapshots(m, env, role)
        self.history(m)
        return m

    def pick_state(self, env: str, created: float) -> tuple[str, float]:
        rng = self.rng
        roll = rng.random()
        span = max(self.anchor - created, DAY)
        updated = created + span * rng.random() ** 0.5
        if roll < 0.01:
            return "failed", created + 600
        if roll < 0.03:
            return "deleted", updated
        if roll < 0.035:
            return "offline", updated
        if rng.random() < _STOPPED_SHARE[env]:
            return "stopped", updated
        return "running", updated

    def tags(self, role: str, env: str, team: str) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < 0.12:
            return {}
        tags: dict[str, Any] = {"role": role, "env": env, "team": team}
        if rng.random() > 0.08:
            tags["owner"] = rng.choice(_OWNERS)
        if env == "prod" and role in ("web", "api", "app") and rng.random() < 0.6:
            tags["triton.cns.services"] = f"{role}:{80 if role != 'api' else 8080}"
        if rng.random() < 0.2:
            tags["cost-center"] = rng.choice(["cc-1001", "cc-1002", "cc-2040", "cc-3300"])
        if rng.random() < 0.05:
            tags["backup"] = rng.random() < 0.5
        return tags

    def metadata(self, role: str, env: str) -> dict[str, Any]:
        rng = self.rng
        md: dict[str, Any] = {"root_authorized_keys": self.keys} if self.keys else {}
        if rng.random() < 0.25:
            md["user-script"] = f"#!/bin/sh\n# bootstrap {role} ({env})\n/opt/bootstrap/{role}.sh\n"
        if role in ("web", "api", "app", "worker"):
            md["app_version"] = f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}"
        if rng.random() < 0.1:
            md["deployed_by"] = rng.choice(_OWNERS)
        return md

    def snapshots(self, m: Machine, env: str, role: str) -> None:
        rng = self.rng
        count = rng.randint(1, 6 if role == "db" else 3)
        for _ in range(count):
            t = m.created + (self.anchor - m.created) * rng.random()
            if role == "db" and env == "prod":
                t = min(t, self.anchor - 400 * DAY) if self.anchor - 400 * DAY > m.created else t
            stamp = datetime.fromtimestamp(t, timezone.utc)
            name = rng.choice([stamp.strftime("%Y%m%dT%H%M%SZ"),
                               f"before-upgrade-{stamp:%Y-%m-%d}", f"nightly-{stamp:%Y%m%d}"])
            m.snapshots[name] = {"name": name, "state": "created", "created": round(t, 3),
                                 "size": rng.randint(50, m.disk // 4 if m.disk else 1024)}

    def history(self, m: Machine) -> None:
        caller = self.caller
        m.audit.append(audit_entry("provision", m.state != "failed", m.created + 30, caller))
        if self.rng.random() < 0.3 and m.state in ("running", "stopped"):
            m.audit.append(audit_entry("reboot", True, (m.created + m.updated) / 2, caller))
        if m.state == "stopped":
            m.audit.append(audit_entry("stop", True, m.updated, caller))
        elif m.state == "deleted":
            m.audit.append(audit_entry("destroy", True, m.updated, caller))
        for snap in sorted(m.snapshots.values(), key=lambda s: s["created"]):
            m.audit.append(audit_entry("create_snapshot", True, snap["created"] + 5, caller))
        m.audit.sort(key=lambda e: e["time"])
        m.last_job_end = m.created


def build_fleet(state: State, dc: Datacenter, account: Account | None, count: int, seed: int) -> None:
    """Seed ``count`` machines into ``dc`` (deterministic for seed and dc name)."""
    fleet = _Fleet(state, dc, account, seed)
    for _ in range(count):
        dc.add(fleet.machine())
