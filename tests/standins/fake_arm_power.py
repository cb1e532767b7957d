"""The fake ARM's disruption routes: VM powerOff/start/runCommand (long-running POSTs) and NSG security
rules as child resources, with the shapes the azure SDKs send and expect.

A VM's power state is kept in its resource ("_power": running or stopped) and shown in its instance
view; `on_power(name, running)` callbacks let a world react (the node goes NotReady). runCommand
records each script and answers with `run_command_output(name, script)` (default: exit 0).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.standins.fake_arm_shapes import ArmError, require

if TYPE_CHECKING:
    from tests.standins.fake_arm import FakeArm

_VM_ACTION = re.compile(r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/virtualmachines/"
                        r"[^/]+)/(poweroff|start|runcommand)$", re.I)
_RULE = re.compile(r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.network/"
                   r"networksecuritygroups/[^/]+)/securityrules/([^/]+)$", re.I)


def succeeded(_vm: str, _script: str) -> str:
    """What RunShellScript reports for a script that printed the exit marker of 0."""
    return "Enable succeeded: \n[stdout]\nfedtest-exit=0\n\n[stderr]\n"


def route(fake: FakeArm, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]] | None:
    """Handle the request if it is one of these routes; None lets the fake's own routes answer."""
    if (m := _VM_ACTION.match(path)) and method == "POST":
        return _vm_action(fake, m[1].lower(), m[2].lower(), body)
    if m := _RULE.match(path):
        return _rule(fake, method, m[1].lower(), m[2], body)
    return None


def _vm_action(fake: FakeArm, key: str, action: str, body: Any) -> tuple[int, Any, dict[str, str]]:
    from tests.standins.fake_arm import Operation

    with fake.lock:
        vm = fake.store.get(key)
        if vm is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{key.rsplit('/', 1)[-1]}' was not found.")
        name = vm["name"]
        if action == "runcommand":
            if require(body, "commandId") != "RunShellScript" or not isinstance(body.get("script"), list):
                raise ArmError(400, "InvalidParameter", "RunShellScript with a script (a list of lines) is required")
            if vm.get("_power", "running") != "running":
                raise ArmError(409, "OperationNotAllowed", f"VM {name} is not running")
            script = "\n".join(body["script"])
            fake.run_commands.append((name, script))
            message = fake.run_command_output(name, script)
            result = {"value": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                 "displayStatus": "Provisioning succeeded", "message": message}]}
            return 202, None, fake._operation(Operation("Succeeded", result=lambda: result))
        running = action == "start"

        def finish() -> None:
            vm["_power"] = "running" if running else "stopped"
            for callback in fake.on_power:
                callback(name, running)

        return 202, None, fake._operation(Operation("Succeeded", finish=finish))


def _rule(fake: FakeArm, method: str, nsg_key: str, name: str, body: Any) -> tuple[int, Any, dict[str, str]]:
    from tests.standins.fake_arm import Operation

    with fake.lock:
        nsg = fake.store.get(nsg_key)
        if nsg is None:
            raise ArmError(404, "ResourceNotFound", "The network security group was not found.")
        rules = nsg["properties"].setdefault("securityRules", [])
        found = next((r for r in rules if r["name"] == name), None)
        if method == "GET":
            if found is None:
                raise ArmError(404, "NotFound", f"Security rule {name} was not found.")
            return 200, found, {}
        if method == "DELETE":
            if found is None:
                return 204, None, {}
            rules.remove(found)
            return 202, None, fake._operation(Operation("Succeeded"))
        if method == "PUT":
            props = require(body, "properties")
            for key in ("access", "direction", "priority", "protocol"):
                require(props, key)
            if any(r["properties"]["priority"] == props["priority"] and r["name"] != name for r in rules):
                raise ArmError(400, "SecurityRuleConflict", f"priority {props['priority']} is taken")
            rule = {"id": f"{nsg['id']}/securityRules/{name}", "name": name,
                    "properties": {**props, "provisioningState": "Succeeded"}}
            if found is not None:
                rules.remove(found)
            rules.append(rule)
            return 201, rule, fake._operation(Operation("Succeeded", result=lambda: rule))
    raise ArmError(405, "MethodNotAllowed")
