"""Why a compose key written into a devrun.yaml is not devrun's: one line for
the "unknown key" error. (Compose files themselves run as they are: see
compose_files.)"""

from __future__ import annotations

# why devrun leaves these out, shown next to each skipped key
SERVICE_REASONS = {
    "networks": "devrun puts every service on one project network, reachable by service name",
    "deploy": "replicas and resource limits are not part of a dev loop",
    "profiles": "devrun starts the services you name: `devrun up SERVICE...`",
    "secrets": "devrun has no secrets; use env_file (values are masked in output)",
    "configs": "devrun has no configs; bind-mount the file under volumes",
    "extends": "devrun has no extends; copy the shared keys",
    "container_name": "devrun names containers <project>-<service>",
    "expose": "services on the project network reach each other's ports already",
    "privileged": "devrun refuses it unless the config sets allow_privileged: true; add both if you need it",
    "cap_add": "devrun refuses it unless the config sets allow_cap_add: true; add both if you need it",
    "network_mode": "devrun refuses host networking unless allow_host_network: true; add both if you need it",
    "platform": "devrun builds and runs for the engine's platform",
    "pull_policy": "devrun pulls only images it does not have",
}
TOP_REASONS = {
    "version": "obsolete in compose too",
    "networks": "devrun makes one network per project",
    "secrets": "devrun has no secrets; use env_file",
    "configs": "devrun has no configs; bind-mount the file",
    "include": "devrun reads one file; merge the included services in",
}


def compose_key_reason(key: str, top_level: bool) -> str | None:
    """Why a compose key written into a devrun.yaml is not devrun's (one line),
    or None when it is not a compose key devrun knows a reason for."""
    if not top_level and key == "develop":
        return "devrun's watch rules are the service's `watch:` list (a compose file's develop.watch runs as it is)"
    reasons = TOP_REASONS if top_level else SERVICE_REASONS
    return reasons.get(key) or (_reason(key, reasons) if key.startswith("x-") else None)


def _reason(key: str, reasons: dict[str, str]) -> str:
    if key.startswith("x-"):
        return "extension fields are kept by compose for YAML anchors; devrun ignores them"
    return reasons.get(key, "no devrun equivalent")
